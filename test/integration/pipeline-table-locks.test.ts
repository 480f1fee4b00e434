import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Transaction } from '../../src/shared/transaction'
import { openTeamDatabase, urlAs, type TeamDatabase } from '../security/support/team-database'
import {
  deleteKeys,
  expectedScoring,
  generated,
  produce,
  query,
  startWorker,
  storedOf,
  withTableLocked,
  testLayout,
  waitFor,
} from '../support/pipeline'
import { SHARED_REDIS_URL } from '../support/services'

/**
 * An admin may lock the tables they write and leave the transaction open (`BEGIN; LOCK TABLE lists;` in
 * psql). The worker waited for such a lock without limit and said nothing: every transaction of the
 * stream behind it waited too. Now the lists and rules are re-read with a lock timeout, and scoring goes
 * on with those it has; a batch whose commit needs a locked table (every alert's webhook trigger reads
 * triage_settings) gives up after 10 s, the worker's status says a lock holds it, and it retries (0025).
 */

const layout = testLayout(1)
let team: TeamDatabase

beforeAll(async () => {
  team = await openTeamDatabase()
}, 120_000)

afterAll(async () => {
  await deleteKeys(SHARED_REDIS_URL, layout.prefix)
  await team?.dispose()
})

const xadd = (txns: Parameters<typeof produce>[2]) => produce(SHARED_REDIS_URL, layout, txns)
const stored = (txns: Parameters<typeof storedOf>[1]) => storedOf(team.database.url, txns)

/** Runs `work` while `who` holds `table` in ACCESS EXCLUSIVE mode in an open transaction. */
const lockedBy = <T>(who: 'admin' | 'ingest', table: string, work: () => Promise<T>) =>
  withTableLocked(urlAs(team.database.url, team.logins[who]), table, work)

const LOCK_HOLDS_IT = /^Another session holds a lock this worker needs \(.*lock timeout/

/**
 * A worker (as the ingest login) given `txns` while `who` keeps `table` locked: its status must say a
 * lock holds it up, and once the lock goes every transaction must be stored.
 */
async function heldUpThenStored(who: 'admin' | 'ingest', table: string, txns: readonly Transaction[]) {
  const worker = startWorker({
    postgres: { url: urlAs(team.database.url, team.logins.ingest) },
    redis: { url: SHARED_REDIS_URL },
    layout,
  })
  try {
    await lockedBy(who, table, async () => {
      await xadd(txns)
      await waitFor(
        'the worker saying a lock holds it',
        async () => (await worker.worker.status()).message ?? '',
        (message) => LOCK_HOLDS_IT.test(message),
        40_000,
      )
    })
    await waitFor(
      'every transaction stored once the lock goes',
      () => stored(txns),
      (n) => n === txns.length,
      60_000,
    )
  } finally {
    await worker.close()
  }
}

describe('a table an admin keeps locked', () => {
  it('lists: every transaction is stored meanwhile, scored with the lists read before, and the status says so', async () => {
    const worker = startWorker({
      postgres: { url: urlAs(team.database.url, team.logins.ingest) },
      redis: { url: SHARED_REDIS_URL },
      layout,
      rulesPollMs: 200,
    })
    try {
      const warmup = generated(20, 61)
      await xadd(warmup)
      await waitFor(
        'the first transactions stored',
        () => stored(warmup),
        (n) => n === warmup.length,
        30_000,
      )
      const during = generated(300, 62)
      await lockedBy('admin', 'lists', async () => {
        // In two parts, the second past the poll: its batch reads the lists again, under the lock.
        await xadd(during.slice(0, 100))
        await waitFor(
          'a first part stored',
          () => stored(during.slice(0, 100)),
          (n) => n === 100,
          30_000,
        )
        await new Promise((resolve) => setTimeout(resolve, 500))
        await xadd(during.slice(100))
        await waitFor(
          'every transaction stored while lists is locked',
          () => stored(during),
          (n) => n === during.length,
          30_000,
        )
        await waitFor(
          'the status saying the lists in use may be out of date',
          async () => (await worker.worker.status()).message ?? '',
          (message) =>
            /^Scoring goes on with the rules and lists read at .*: reading them again failed \(.*lock timeout/.test(
              message,
            ),
          10_000,
        )
      })
      // The same scores as with the lists read afresh: none was listed, before or during.
      const expected = expectedScoring([...warmup, ...during])
      const scored = await query<{ txn_id: string; score: number }>(
        team.database.url,
        'SELECT txn_id::text, score FROM transactions WHERE txn_id = ANY($1::uuid[])',
        [during.map((txn) => txn.txn_id)],
      )
      expect(scored.every((row) => expected.scores.get(row.txn_id)?.score === row.score)).toBe(true)
      // The next batch after the lock goes reads them again.
      const after = generated(5, 65)
      await xadd(after)
      await waitFor(
        'the next transactions stored',
        () => stored(after),
        (n) => n === after.length,
        30_000,
      )
      await waitFor(
        'the status clear once the lock goes',
        async () => (await worker.worker.status()).message,
        (message) => message === undefined,
        10_000,
      )
    } finally {
      await worker.close()
    }
  }, 90_000)

  it('triage_settings: a commit gives the lock up after 10 s, the status names it, and all is stored after', async () => {
    await query(
      team.database.url,
      `INSERT INTO triage_settings (key, value) VALUES ('webhook_url', 'http://127.0.0.1:9/hook')`,
    )
    // Big transfers of one user: the rules alert on them, and an alert's webhook trigger reads the setting.
    const risky = generated(6, 63).map((txn) => ({
      ...txn,
      user_id: 'locked-settings',
      type: 'TRANSFER' as const,
      amount: '9000000.00',
    }))
    expect([...expectedScoring(risky).scores.values()].some((score) => score.decision === 'block')).toBe(true)
    const others = generated(100, 64)
    await heldUpThenStored('admin', 'triage_settings', [...risky, ...others])
    const [deliveries] = await query<{ n: number }>(
      team.database.url,
      'SELECT count(*)::int AS n FROM webhook_deliveries',
    )
    expect(deliveries?.n).toBeGreaterThan(0)
  }, 120_000)

  it("user_features, by an analyst's desk that ingests: the status names the lock, and all is stored after", async () => {
    // The ingest group writes the users' states, so its logins may lock their table.
    await heldUpThenStored('ingest', 'user_features', generated(50, 66))
  }, 120_000)
})
