import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CONSUMER_GROUP,
  deadLetterStream,
  partitionStream,
  type StreamLayout,
} from '../../src/main/pipeline/partitioning'
import { renderMetrics } from '../../src/main/pipeline/metrics'
import type { Transaction } from '../../src/shared/transaction'
import {
  sharedRedisFor,
  expectedScoring,
  generated,
  migratedDatabase,
  pendingEntries,
  produce,
  query,
  startWorker,
  storedCount,
  storedScoring,
  testLayout,
  waitFor,
  queueTransactions,
  xaddTransactions,
} from '../support/pipeline'
import { startPrivateRedis } from '../support/private-servers'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * A transaction sent twice: an identical copy (a producer's retry) is dropped and counted as a duplicate,
 * a copy with other content is a dead letter carrying both versions, and entries read again after a
 * failure are counted as redelivered, never as duplicates: the counters agree with the store.
 */

const cleanups: (() => Promise<unknown>)[] = []
let database: TestDatabase

beforeAll(async () => {
  database = await createTestDatabase('aether_pipe')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
})

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

async function deadLetters(redis: Redis, layout: StreamLayout) {
  return (await redis.xrange(deadLetterStream(layout), '-', '+')).map(([, fields]) => {
    const record = new Map<string, string>()
    for (let i = 0; i < fields.length; i += 2) record.set(fields[i] as string, fields[i + 1] as string)
    return record
  })
}

describe('duplicates', () => {
  it('drops an identical copy as a duplicate and sends a conflicting one to the dead letters with both versions', async () => {
    const layout = testLayout(4)
    const redis = sharedRedisFor(layout, cleanups)
    const [first, later] = [generated(300, 31).slice(0, 200), generated(300, 31).slice(200)]
    const originals = first
    await xaddTransactions(redis, layout, originals)
    const worker = startWorker({ postgres: { url: database.url }, redis: { url: SHARED_REDIS_URL }, layout })
    cleanups.push(() => worker.close())
    await waitFor(
      'the originals stored',
      () => storedCount(database.url),
      (n) => n === originals.length,
    )

    const pick = (from: number, count: number) => originals.slice(from, from + count)
    // A producer's retries, one with its id in capitals (the same UUID).
    const retries = [
      ...pick(0, 20),
      { ...(originals[20] as Transaction), txn_id: originals[20]!.txn_id.toUpperCase() },
    ]
    const otherAmount = pick(30, 10).map((txn) => ({ ...txn, amount: (Number(txn.amount) + 1).toFixed(2) }))
    const otherUser = pick(50, 5).map((txn, i) => ({
      ...txn,
      user_id: (originals[100 + i] as Transaction).user_id,
    }))
    // New transactions, each sent twice in a row: identically, and with another amount.
    const [twice, conflicted] = later as [Transaction, Transaction]
    const sentAgain = [twice, twice, conflicted, { ...conflicted, amount: '1.00' }]
    await xaddTransactions(redis, layout, [...retries, ...otherAmount, ...otherUser, ...sentAgain])
    await waitFor(
      'every copy handled',
      () => worker.worker.status(),
      (status) => status.counts.duplicates + status.counts.deadLetters >= retries.length + 16,
    )
    await waitFor(
      'nothing pending',
      () => pendingEntries(SHARED_REDIS_URL, layout),
      (n) => n === 0,
    )
    const status = await worker.worker.status()

    expect(status.counts).toMatchObject({
      stored: originals.length + 2,
      duplicates: retries.length + 1,
      redelivered: 0,
      deadLetters: 16,
    })
    expect(status.deadLettersByReason).toEqual({ conflicting_duplicate: 16 })
    // The first version stays, and no user's state counted a copy.
    const stored = await storedScoring(database.url)
    const expected = expectedScoring([...originals, twice, conflicted])
    expect(stored.scores).toEqual(expected.scores)
    expect(stored.states).toEqual(expected.states)
    const [amount] = await query<{ amount: string }>(
      database.url,
      'SELECT amount::text FROM transactions WHERE txn_id = $1',
      [originals[30]!.txn_id],
    )
    expect(amount?.amount).toBe(Number(originals[30]!.amount).toFixed(2))

    const letters = await deadLetters(redis, layout)
    expect(letters).toHaveLength(16)
    for (const letter of letters) expect(letter.get('dead_reason')).toMatch(/^conflicting duplicate: txn_id /)
    const byTxn = new Map(letters.map((letter) => [letter.get('txn_id'), letter]))
    for (const [index, txn] of otherAmount.entries()) {
      const letter = byTxn.get(txn.txn_id)
      // The entry as sent, and the stored version in the reason.
      expect(letter?.get('amount')).toBe(txn.amount)
      expect(letter?.get('dead_reason')).toContain(
        `amount: "${txn.amount}" here, "${Number(pick(30, 10)[index]!.amount).toFixed(2)}" there`,
      )
      expect(letter?.get('dead_reason')).toMatch(/the other version: \{"ts":.*"user_id":/)
    }
    for (const txn of otherUser)
      expect(byTxn.get(txn.txn_id)?.get('dead_reason')).toContain(
        `user_id: ${JSON.stringify(txn.user_id)} here`,
      )
    expect(byTxn.get(conflicted.txn_id)?.get('dead_reason')).toContain('amount: "1.00" here')
  }, 120_000)

  it('counts entries Redis delivers again after forgetting its deliveries as redelivered, not as duplicates', async () => {
    const layout = testLayout(4)
    const redis = sharedRedisFor(layout, cleanups)
    const db = await createTestDatabase('aether_pipe')
    cleanups.push(() => db.drop())
    await migratedDatabase(db.url)
    const txns = generated(3000, 37)
    await produce(SHARED_REDIS_URL, layout, txns)
    const worker = startWorker({ postgres: { url: db.url }, redis: { url: SHARED_REDIS_URL }, layout })
    cleanups.push(() => worker.close())
    await waitFor(
      'every transaction stored',
      () => storedCount(db.url),
      (n) => n === txns.length,
    )
    await waitFor(
      'nothing pending',
      () => pendingEntries(SHARED_REDIS_URL, layout),
      (n) => n === 0,
    )
    // Paused, the worker gives its partitions back and trims nothing while the streams change.
    worker.worker.pause()
    await waitFor(
      'the partitions given back',
      () => worker.worker.status(),
      (status) => status.partitions.every((partition) => partition.owner === null),
    )
    // What a Redis restored from an older state does: the group has delivered nothing yet. Entries the
    // worker trimmed away are gone; every one still in the streams is delivered again.
    let again = 0
    for (let p = 0; p < layout.partitions; p++) {
      await redis.xgroup('SETID', partitionStream(layout, p), CONSUMER_GROUP, '0')
      again += await redis.xlen(partitionStream(layout, p))
    }
    expect(again).toBeGreaterThan(0)
    worker.worker.resume()
    const status = await waitFor(
      'the entries read again',
      () => worker.worker.status(),
      (current) => (current.counts.redelivered ?? 0) + current.counts.duplicates >= again,
    )
    expect(await pendingEntries(SHARED_REDIS_URL, layout)).toBe(0)
    expect(status.counts).toMatchObject({
      stored: txns.length,
      duplicates: 0,
      redelivered: again,
      deadLetters: 0,
    })
    expect(await storedCount(db.url)).toBe(txns.length)
    const metrics = await renderMetrics([{ status, batches: 0, latency: worker.worker.latency.snapshot() }])
    const series = (outcome: string) =>
      `aether_ingest_transactions_total{worker="${status.workerId}",outcome="${outcome}"}`
    expect(metrics).toContain(`\n${series('stored')} ${txns.length}\n`)
    expect(metrics).toContain(`\n${series('duplicate')} 0\n`)
    expect(metrics).toContain(`\n${series('redelivered')} ${again}\n`)
  }, 120_000)

  it('absorbs a copy of a stored transaction that its clock would refuse, and refuses one never stored', async () => {
    // Two workers whose clocks (here: windows) differ: the first stores a transaction dated 30 hours
    // ahead, the second (24 hours) gets an identical retry of it, and one that was never stored.
    const layout = testLayout(1)
    const redis = sharedRedisFor(layout, cleanups)
    const db = await createTestDatabase('aether_pipe')
    cleanups.push(() => db.drop())
    await migratedDatabase(db.url)
    const ahead = new Date(Date.now() + 30 * 3_600_000).toISOString()
    const [stored, never] = generated(2, 47).map((txn) => ({ ...txn, ts: ahead }))
    const wide = { earliestMs: Date.parse('2000-01-01T00:00:00Z'), aheadMs: 48 * 3_600_000 }
    await xaddTransactions(redis, layout, [stored as Transaction])
    const first = startWorker({
      postgres: { url: db.url },
      redis: { url: SHARED_REDIS_URL },
      layout,
      timeWindow: wide,
    })
    await waitFor(
      'the first stored',
      () => storedCount(db.url),
      (n) => n === 1,
    )
    await first.close()
    await xaddTransactions(redis, layout, [stored as Transaction, never as Transaction])
    const second = startWorker({ postgres: { url: db.url }, redis: { url: SHARED_REDIS_URL }, layout })
    cleanups.push(() => second.close())
    const status = await waitFor(
      'both read',
      () => second.worker.status(),
      (current) => current.counts.duplicates + current.counts.deadLetters >= 2,
    )
    expect(status.counts).toMatchObject({ stored: 0, duplicates: 1, deadLetters: 1 })
    const letters = await deadLetters(redis, layout)
    expect(letters.map((letter) => [letter.get('txn_id'), letter.get('dead_reason')])).toEqual([
      [never?.txn_id, expect.stringMatching(/ahead of this worker's clock/)],
    ])
    expect(await storedCount(db.url)).toBe(1)
  }, 60_000)

  it('goes on when an operator destroys the consumer group of a partition it holds, storing each transaction once', async () => {
    const layout = testLayout(2)
    const redis = sharedRedisFor(layout, cleanups)
    const db = await createTestDatabase('aether_pipe')
    cleanups.push(() => db.drop())
    await migratedDatabase(db.url)
    const [first, second] = [generated(600, 41), generated(600, 43)]
    await produce(SHARED_REDIS_URL, layout, first as Transaction[])
    const worker = startWorker({ postgres: { url: db.url }, redis: { url: SHARED_REDIS_URL }, layout })
    cleanups.push(() => worker.close())
    await waitFor(
      'the first stored',
      () => storedCount(db.url),
      (n) => n === first?.length,
    )
    // The worker still holds both partitions' leases: every read failed with NOGROUP, for ever.
    for (let p = 0; p < layout.partitions; p++)
      await redis.xgroup('DESTROY', partitionStream(layout, p), CONSUMER_GROUP)
    // Sent as a foreign producer does, without making the group again as ours do.
    await xaddTransactions(redis, layout, second as Transaction[])
    await waitFor(
      'the second stored',
      () => storedCount(db.url),
      (n) => n === (first?.length ?? 0) + (second?.length ?? 0),
      60_000,
    )
    await waitFor(
      'nothing pending',
      () => pendingEntries(SHARED_REDIS_URL, layout),
      (n) => n === 0,
    )
    const status = await worker.worker.status()
    expect(status.counts).toMatchObject({ stored: 1200, duplicates: 0, deadLetters: 0, redelivered: 600 })
    expect(status.lastError?.message).toMatch(/consumer group .* was gone/)
  }, 120_000)

  it('counts the pending entries deleted from the stream before they were stored, and stores the rest', async () => {
    const layout = testLayout(1)
    const redis = sharedRedisFor(layout, cleanups)
    const db = await createTestDatabase('aether_pipe')
    cleanups.push(() => db.drop())
    await migratedDatabase(db.url)
    const txns = generated(10, 61)
    await produce(SHARED_REDIS_URL, layout, txns)
    // A worker that read them and died; then an operator deletes three of them by hand.
    const stream = partitionStream(layout, 0)
    const [[, delivered] = ['', []]] = (await redis.xreadgroup(
      'GROUP',
      CONSUMER_GROUP,
      'a-worker-that-died',
      'COUNT',
      100,
      'STREAMS',
      stream,
      '>',
    )) as [string, [string, string[]][]][]
    expect(delivered).toHaveLength(10)
    await redis.xdel(stream, ...delivered.slice(2, 5).map(([id]) => id))
    const worker = startWorker({ postgres: { url: db.url }, redis: { url: SHARED_REDIS_URL }, layout })
    cleanups.push(() => worker.close())
    await waitFor(
      'the rest stored',
      () => storedCount(db.url),
      (n) => n === 7,
    )
    await waitFor(
      'nothing pending',
      () => pendingEntries(SHARED_REDIS_URL, layout),
      (n) => n === 0,
    )
    const status = await worker.worker.status()
    expect(status.counts).toMatchObject({ stored: 7, deletedWhilePending: 3, deadLetters: 0 })
    const metrics = await renderMetrics([{ status, batches: 0, latency: worker.worker.latency.snapshot() }])
    expect(metrics).toContain(
      `aether_ingest_transactions_total{worker="${status.workerId}",outcome="deleted_while_pending"} 3\n`,
    )
  }, 60_000)

  it('an operator moving the group past entries it has not read: the worker waits for new ones without spinning, and stores them', async () => {
    // A private Redis: its command counts are this worker's alone.
    const server = await startPrivateRedis()
    cleanups.push(() => server.stop())
    const db = await createTestDatabase('aether_pipe')
    cleanups.push(() => db.drop())
    await migratedDatabase(db.url)
    const layout = testLayout(2)
    const [first, skipped, after] = [generated(300, 51), generated(200, 53), generated(300, 57)]
    await produce(server.url, layout, first as Transaction[])
    const worker = startWorker({ postgres: { url: db.url }, redis: { url: server.url }, layout })
    cleanups.push(() => worker.close())
    await waitFor(
      'the first stored',
      () => storedCount(db.url),
      (n) => n === first?.length,
    )
    // Caught up, it waits for entries after the last one it was given. Entries come, and in the same
    // MULTI the operator skips them (XGROUP SETID … $): the worker is never given them.
    const redis = new Redis(server.url)
    cleanups.push(() => redis.quit())
    const multi = queueTransactions(redis.multi(), layout, skipped as Transaction[])
    for (let p = 0; p < layout.partitions; p++)
      multi.xgroup('SETID', partitionStream(layout, p), CONSUMER_GROUP, '$')
    await multi.exec()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    // Its wait for entries after the last one it was given ended at once, again and again, before.
    const xreads = async () => {
      const stats = (await redis.info('commandstats')).match(/cmdstat_xread:calls=(\d+)/)
      return Number(stats?.[1] ?? 0)
    }
    const before = await xreads()
    await new Promise((resolve) => setTimeout(resolve, 2000))
    // A wait lasts 500 ms while nothing comes.
    expect(await xreads()).toBeLessThan(before + 10)
    await produce(server.url, layout, after as Transaction[])
    await waitFor(
      'the ones after stored',
      () => storedCount(db.url),
      (n) => n === (first?.length ?? 0) + (after?.length ?? 0),
    )
    expect((await worker.worker.status()).counts).toMatchObject({ stored: 600, deadLetters: 0 })
  }, 60_000)

  it('counts each transaction once when Redis is killed between a commit and its acknowledgement and comes back from its append-only file', async () => {
    const server = await startPrivateRedis()
    cleanups.push(() => server.stop())
    const db = await createTestDatabase('aether_pipe')
    cleanups.push(() => db.drop())
    await migratedDatabase(db.url)
    const layout = testLayout()
    const txns = generated(12_000, 41)
    await produce(server.url, layout, txns)
    const worker = startWorker({
      postgres: { url: db.url },
      redis: { url: server.url },
      layout,
      maxBatch: 1000,
    })
    cleanups.push(() => worker.close())
    await waitFor(
      'a first part stored',
      () => storedCount(db.url),
      (n) => n >= 2_000,
    )
    // A lock on the partition table holds the next batch's commit; Redis dies before it goes through.
    const locker = new pg.Client({ connectionString: db.url })
    await locker.connect()
    cleanups.push(() => locker.end())
    await locker.query('BEGIN')
    await locker.query('LOCK TABLE pipeline_partitions IN SHARE ROW EXCLUSIVE MODE')
    await waitFor(
      'a commit waiting on the lock',
      () =>
        query<{ n: number }>(
          db.url,
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND application_name LIKE 'aether-worker%' AND wait_event_type = 'Lock'`,
        ),
      ([row]) => (row?.n ?? 0) > 0,
    )
    await server.kill()
    await locker.query('COMMIT')
    await waitFor(
      'the acknowledgement failed',
      () => worker.worker.status(),
      (status) => status.counts.errors > 0,
    )
    await server.restart()
    await waitFor(
      'every transaction stored',
      () => storedCount(db.url),
      (n) => n === txns.length,
      90_000,
    )
    await waitFor(
      'nothing pending',
      () => pendingEntries(server.url, layout),
      (n) => n === 0,
    )
    // Counted at commit, before the acknowledgement: with nothing pending, every count is in.
    const status = await worker.worker.status()
    expect(status.counts).toMatchObject({ stored: txns.length, duplicates: 0, deadLetters: 0 })
    // The batch whose acknowledgement was lost was read again and found stored.
    expect(status.counts.redelivered).toBeGreaterThan(0)
    const stored = await storedScoring(db.url)
    const expected = expectedScoring(txns)
    expect(stored.scores).toEqual(expected.scores)
    expect(stored.states).toEqual(expected.states)
  }, 150_000)
})
