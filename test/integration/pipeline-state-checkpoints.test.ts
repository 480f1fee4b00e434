import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { partitionOf, partitionStream } from '../../src/main/pipeline/partitioning'
import { unpackUserState } from '../../src/main/scoring'
import type { Transaction } from '../../src/shared/transaction'
import {
  sharedRedisFor,
  expectedScoring,
  generated,
  migratedDatabase,
  pendingEntries,
  query,
  startWorker,
  statesBehind,
  storedCount,
  storedScoring,
  testLayout,
  waitFor,
  xaddTransactions,
} from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * A Team worker writes its users' states at checkpoints (0017); between two, they live in its memory
 * only. Whoever holds a partition next replays the entries since the last checkpoint into the stored
 * states: each entry whose transaction it stored, once, in stream order — not a producer's retry, a
 * conflicting version, an entry on the wrong partition, one that is not a transaction or one the store
 * refused.
 */

const cleanups: (() => Promise<unknown>)[] = []
let database: TestDatabase

beforeAll(async () => {
  database = await createTestDatabase('aether_states')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
})

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

interface StoredState {
  user_id: string
  state: string
  model_version: string
}

describe('state checkpoints', () => {
  it('a new owner replays what was stored after the last checkpoint, and nothing else', async () => {
    const layout = testLayout(4)
    const redis = sharedRedisFor(layout, cleanups)
    const txns = generated(900, 37)
    const first = txns.slice(0, 400)
    const later = txns.slice(400)
    await xaddTransactions(redis, layout, first)
    // A reader that reads nothing keeps every entry in the streams, whatever the checkpoints allow.
    for (let partition = 0; partition < layout.partitions; partition++)
      await redis.xgroup('CREATE', partitionStream(layout, partition), 'audit', '0', 'MKSTREAM')
    const config = { postgres: { url: database.url }, redis: { url: SHARED_REDIS_URL }, layout }
    const worker = startWorker(config)
    cleanups.push(() => worker.close())
    await waitFor(
      'the first part stored',
      () => storedCount(database.url),
      (n) => n === first.length,
    )
    // The stream goes quiet: the worker writes its users' states.
    await waitFor(
      "the first part's states written",
      () => statesBehind(database.url),
      (n) => n === 0,
    )
    const checkpoint = await query<{ partition: number; position: string; state_at: string }>(
      database.url,
      'SELECT partition, position, state_at::text FROM pipeline_partitions WHERE position IS NOT NULL',
    )
    expect(checkpoint).toHaveLength(layout.partitions)
    const firstStates = await query<StoredState>(
      database.url,
      'SELECT user_id, state::text, model_version FROM user_features',
    )
    expect(firstStates.length).toBeGreaterThan(0)

    // After it: a producer's retries of transactions stored before it, a conflicting version of one,
    // new transactions, one of them also sent to a wrong partition first, one sent twice and one in
    // two versions, and an entry that is no transaction at all.
    const retried = first.slice(0, 15)
    const conflicting = first
      .slice(20, 25)
      .map((txn) => ({ ...txn, amount: (Number(txn.amount) + 1).toFixed(2) }))
    const misrouted = later[0] as Transaction
    const home = partitionOf(misrouted.user_id, layout.partitions)
    await xaddTransactions(redis, layout, [misrouted], (home + 1) % layout.partitions)
    const twice = later[1] as Transaction
    const versions = later[2] as Transaction
    await xaddTransactions(redis, layout, [...retried, ...conflicting, ...later.slice(0, 100)])
    await xaddTransactions(redis, layout, [twice, { ...versions, amount: '1.00' }])
    await redis.xadd(partitionStream(layout, 0), '*', 'txn_id', 'not-a-uuid', 'amount', 'x')
    // A transaction only the store refuses (by a rule of the team's database, as a DBA's CHECK would:
    // validation refuses what PostgreSQL's types refuse): a batch fails on it, and every replay reads it
    // again.
    await query(
      database.url,
      `ALTER TABLE transactions ADD CONSTRAINT dba_rule CHECK (merchant_type IS DISTINCT FROM 'refused-by-store')`,
    )
    const unreadable = {
      ...(later[3] as Transaction),
      txn_id: randomUUID(),
      merchant_type: 'refused-by-store',
    }
    await xaddTransactions(redis, layout, [unreadable])
    await xaddTransactions(redis, layout, later.slice(100))
    await waitFor(
      'the rest stored',
      () => storedCount(database.url),
      (n) => n === txns.length,
    )
    await waitFor(
      'nothing pending',
      () => pendingEntries(SHARED_REDIS_URL, layout),
      (n) => n === 0,
    )
    const expected = expectedScoring(txns)
    const written = await storedScoring(database.url)
    expect(written.states).toEqual(expected.states)
    const status = await worker.worker.status()
    expect(status.counts).toMatchObject({ stored: txns.length, duplicates: retried.length + 1 })
    expect(status.deadLettersByReason).toEqual({
      conflicting_duplicate: conflicting.length + 1,
      wrong_partition: 1,
      invalid: 1,
      refused_by_store: 1,
    })
    await worker.close()

    // As if the worker had died before writing any checkpoint after the first part's: the store keeps
    // the first part's states, and where they stood.
    for (const { partition, position, state_at } of checkpoint)
      await query(
        database.url,
        'UPDATE pipeline_partitions SET state_position = $2, state_at = $3 WHERE partition = $1',
        [partition, position, state_at],
      )
    await query(database.url, 'DELETE FROM user_features')
    for (const { user_id, state, model_version } of firstStates)
      await query(
        database.url,
        'INSERT INTO user_features (user_id, state, model_version) VALUES ($1, $2::jsonb, $3)',
        [user_id, state, model_version],
      )
    expect(await statesBehind(database.url)).toBe(layout.partitions)
    const restored = await query<{ user_id: string; state: unknown }>(
      database.url,
      'SELECT user_id, state FROM user_features',
    )
    const before = new Map(restored.map((row) => [row.user_id, unpackUserState(row.state)]))
    expect(before).not.toEqual(expected.states)

    // The next owner finds the store behind and replays; nothing new arrives meanwhile.
    const next = startWorker(config)
    cleanups.push(() => next.close())
    const replayed = await storedScoring(database.url)
    expect(replayed.states).toEqual(expected.states)
    expect(replayed.scores).toEqual(expected.scores)
    expect((await next.worker.status()).counts.stored).toBe(0)
    await next.close()
  }, 120_000)

  it('checkpoints the store refuses again and again lose nothing: the entries stay, and the next one writes every state', async () => {
    const layout = testLayout(4)
    const redis = sharedRedisFor(layout, cleanups)
    const states = await createTestDatabase('aether_states_refused')
    cleanups.push(() => states.drop())
    await migratedDatabase(states.url)
    const txns = generated(700, 41)
    const first = txns.slice(0, 300)
    const later = txns.slice(300)
    const worker = startWorker({
      postgres: { url: states.url },
      redis: { url: SHARED_REDIS_URL },
      layout,
      stateCheckpointMs: 200,
    })
    cleanups.push(() => worker.close())
    await xaddTransactions(redis, layout, first)
    await waitFor(
      "the first part's states written",
      async () => [await storedCount(states.url), await statesBehind(states.url)],
      ([stored, behind]) => stored === first.length && behind === 0,
    )
    // From here the store refuses every state (as a full disk or a lost grant would): the batches go on.
    await query(
      states.url,
      'ALTER TABLE user_features ADD CONSTRAINT refuse_every_state CHECK (user_id IS NULL) NOT VALID',
    )
    const errorsBefore = (await worker.worker.status()).counts.errors
    for (let part = 0; part < 4; part++) {
      await xaddTransactions(redis, layout, later.slice(part * 100, (part + 1) * 100))
      await new Promise((resolve) => setTimeout(resolve, 700))
    }
    await waitFor(
      'every transaction stored',
      () => storedCount(states.url),
      (n) => n === txns.length,
    )
    // Long enough for a trim (every 5 s) and many more checkpoints to be tried.
    await new Promise((resolve) => setTimeout(resolve, 6000))
    const failing = await worker.worker.status()
    // Each refused checkpoint is counted and said; the stored states stay behind.
    expect(failing.counts.errors - errorsBefore).toBeGreaterThanOrEqual(3)
    expect(failing.lastError?.message).toMatch(/a checkpoint/)
    expect(await statesBehind(states.url)).toBeGreaterThan(0)
    // What a replay would need is kept: no entry after the last written checkpoint is trimmed.
    const kept = await Promise.all(
      Array.from({ length: layout.partitions }, (_, partition) =>
        redis.xlen(partitionStream(layout, partition)),
      ),
    )
    expect(kept.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(later.length)

    // The store takes states again: the next checkpoint writes every user advanced since the last one.
    await query(states.url, 'ALTER TABLE user_features DROP CONSTRAINT refuse_every_state')
    const written = await storedScoring(states.url)
    const expected = expectedScoring(txns)
    expect(written.states).toEqual(expected.states)
    expect(written.scores).toEqual(expected.scores)
    await worker.close()
  }, 120_000)

  it('a checkpoint goes in parts of whole partitions: a part the store refuses leaves only its partitions behind, and the next owner brings them up to date', async () => {
    const layout = testLayout(4)
    const redis = sharedRedisFor(layout, cleanups)
    const parts = await createTestDatabase('aether_states_parts')
    cleanups.push(() => parts.drop())
    await migratedDatabase(parts.url)
    const txns = generated(700, 43)
    const first = txns.slice(0, 300)
    const later = txns.slice(300)
    const refusedPartition = 2
    const onRefused = (user: string) => partitionOf(user, layout.partitions) === refusedPartition
    const config = {
      postgres: { url: parts.url },
      redis: { url: SHARED_REDIS_URL },
      layout,
      stateCheckpointMs: 200,
      // Every partition a part of its own.
      checkpointPartUsers: 1,
    }
    const worker = startWorker(config)
    cleanups.push(() => worker.close())
    await xaddTransactions(redis, layout, first)
    await waitFor(
      "the first part's states written",
      async () => [await storedCount(parts.url), await statesBehind(parts.url)],
      ([stored, behind]) => stored === first.length && behind === 0,
    )
    // The store refuses the states of one partition's users; the other partitions' parts go through.
    const refusedUsers = [...new Set(later.map((txn) => txn.user_id).filter(onRefused))]
    expect(refusedUsers.length).toBeGreaterThan(5)
    await query(
      parts.url,
      `ALTER TABLE user_features ADD CONSTRAINT refuse_one_partition
         CHECK (user_id <> ALL (ARRAY[${refusedUsers.map((user) => `'${user}'`).join(', ')}]::text[])) NOT VALID`,
    )
    for (let slice = 0; slice < 4; slice++) {
      await xaddTransactions(redis, layout, later.slice(slice * 100, (slice + 1) * 100))
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    const behind = () =>
      query<{ partition: number }>(
        parts.url,
        `SELECT partition FROM pipeline_partitions
           WHERE state_position IS NOT NULL AND state_position IS DISTINCT FROM position ORDER BY partition`,
      )
    await waitFor(
      'every transaction stored, and every partition but the refused one checkpointed',
      async () => [await storedCount(parts.url), (await behind()).map((row) => row.partition)],
      ([stored, partitions]) =>
        stored === txns.length && JSON.stringify(partitions) === JSON.stringify([refusedPartition]),
    )
    expect((await worker.worker.status()).lastError?.message).toMatch(/a checkpoint/)
    const expected = expectedScoring(txns)
    const stored = await query<{ user_id: string; state: unknown }>(
      parts.url,
      'SELECT user_id, state FROM user_features',
    )
    const storedStates = new Map(stored.map((row) => [row.user_id, unpackUserState(row.state)]))
    // The parts written hold every state of their partitions as it is now; the refused one's are behind.
    for (const [user, state] of expected.states)
      if (!onRefused(user)) expect(storedStates.get(user), user).toEqual(state)
    expect(
      refusedUsers.some(
        (user) => JSON.stringify(storedStates.get(user)) !== JSON.stringify(expected.states.get(user)),
      ),
    ).toBe(true)
    await worker.close()

    // The next owner replays the refused partition's entries since its last checkpoint, and writes them.
    await query(parts.url, 'ALTER TABLE user_features DROP CONSTRAINT refuse_one_partition')
    const next = startWorker(config)
    cleanups.push(() => next.close())
    const written = await storedScoring(parts.url)
    expect(written.states).toEqual(expected.states)
    expect(written.scores).toEqual(expected.scores)
    expect((await next.worker.status()).counts.stored).toBe(0)
    await next.close()
  }, 120_000)
})
