import { Redis } from 'ioredis'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { partitionStream } from '../../src/main/pipeline/partitioning'
import { encodeTransaction } from '../../src/main/pipeline/wire'
import type { Transaction } from '../../src/shared/transaction'
import { openTeamDatabase, urlAs, type TeamDatabase } from '../security/support/team-database'
import {
  deleteKeys,
  expectedScoring,
  generated,
  query,
  startWorker,
  storedOf,
  testLayout,
  waitFor,
} from '../support/pipeline'
import { SHARED_REDIS_URL } from '../support/services'

/**
 * An analyst's login may lock the cases it may update (SELECT … FOR UPDATE) and keep them locked in an
 * open transaction. An alert of that case's user waited for the lock inside the worker's batch, and every
 * transaction of the partition behind it. Now the alert is stored without its case and joins it when the
 * lock goes (migration 0022).
 */

const USER = 'locked-case-0022'
const layout = testLayout(1)
const redis = new Redis(SHARED_REDIS_URL, { lazyConnect: true })
let team: TeamDatabase

beforeAll(async () => {
  team = await openTeamDatabase()
  await redis.connect()
}, 120_000)

afterAll(async () => {
  redis.disconnect()
  await deleteKeys(SHARED_REDIS_URL, layout.prefix)
  await team?.dispose()
})

const xadd = async (txns: readonly Transaction[]) => {
  for (const txn of txns) await redis.xadd(partitionStream(layout, 0), '*', ...encodeTransaction(txn))
}

describe('a case locked by an analyst', () => {
  it('stores every transaction meanwhile; the alerts join the case when the lock goes', async () => {
    // The user's big transfers: the rules alert on most of them (counted from the same scoring).
    const risky = generated(10, 22).map((txn) => ({
      ...txn,
      user_id: USER,
      type: 'TRANSFER' as const,
      amount: '9000000.00',
    }))
    const decisions = [...expectedScoring(risky).scores.values()].map((score) => score.decision)
    const first = decisions.findIndex((decision) => decision !== 'approve')
    expect(first).toBeGreaterThanOrEqual(0)
    const before = risky.slice(0, first + 1)
    const during = risky.slice(first + 1)
    const alertsDuring = decisions.slice(first + 1).filter((decision) => decision !== 'approve').length
    expect(alertsDuring).toBeGreaterThanOrEqual(2)
    // Another user's big transfers in the same batches: their case is free.
    const free = generated(10, 24).map((txn) => ({
      ...txn,
      user_id: `${USER}-free`,
      type: 'TRANSFER' as const,
      amount: '9000000.00',
    }))
    const others = [...generated(300, 23), ...free]

    const ingestUrl = urlAs(team.database.url, team.logins.ingest)
    const ownerUrl = team.database.url
    const stored = (txns: readonly Transaction[]) => storedOf(ownerUrl, txns)
    const theCase = async () =>
      (
        await query<{ id: string; alert_count: number }>(
          ownerUrl,
          `SELECT id::text, alert_count FROM cases WHERE user_id = $1 AND status <> 'closed'`,
          [USER],
        )
      )[0]

    const worker = startWorker({
      postgres: { url: ingestUrl },
      redis: { url: SHARED_REDIS_URL },
      layout,
      caseJoinMs: 300,
    })
    let analyst: pg.Client | undefined
    try {
      await xadd(before)
      const opened = await waitFor('the user’s case opened', theCase, (row) => row !== undefined, 30_000)

      // The analyst's open transaction holds the case (the app never does this; a psql session may).
      analyst = await team.connect(team.logins.analyst)
      await analyst.query('BEGIN')
      const locked = await analyst.query('SELECT id FROM cases WHERE user_id = $1 FOR UPDATE', [USER])
      expect(locked.rowCount).toBe(1)

      const rest = [...during, ...others]
      await xadd(rest)
      // Before 0022 the batch with the user's next alert waited here for the analyst, and nothing behind it was stored.
      await waitFor(
        'every transaction stored while the case is locked',
        () => stored(rest),
        (n) => n === rest.length,
        30_000,
      )
      const [waiting] = await query<{ n: number; unjoined: number; others: number; joined: number }>(
        ownerUrl,
        `SELECT (SELECT count(*)::int FROM alert_case_waits WHERE user_id = $1) AS n,
                (SELECT count(*)::int FROM alerts WHERE user_id = $1 AND case_id IS NULL) AS unjoined,
                (SELECT count(*)::int FROM alerts WHERE user_id <> $1 AND case_id IS NULL) AS others,
                (SELECT count(*)::int FROM alerts WHERE user_id = $1 || '-free') AS joined`,
        [USER],
      )
      // Only the locked case's alerts wait: the other users' alerts of the same batches joined theirs.
      expect(waiting).toMatchObject({ n: alertsDuring, unjoined: alertsDuring, others: 0 })
      expect(waiting?.joined).toBeGreaterThan(0)
      expect((await theCase())?.alert_count).toBe(opened?.alert_count)
      // Said in the worker's status (and so on /metrics) once a sweep has looked.
      await waitFor(
        'the waiting alerts in the status',
        async () => (await worker.worker.status()).alertsWaitingForCase,
        (n) => n !== undefined && n >= alertsDuring,
        10_000,
      )

      await analyst.query('COMMIT')
      const joined = await waitFor(
        'the waiting alerts joined to the case',
        theCase,
        (row) => row?.alert_count === (opened?.alert_count ?? 0) + alertsDuring,
        15_000,
      )
      expect(joined?.id).toBe(opened?.id)
      const [after] = await query<{ waits: number; unjoined: number; elsewhere: number }>(
        ownerUrl,
        `SELECT (SELECT count(*)::int FROM alert_case_waits) AS waits,
                (SELECT count(*)::int FROM alerts WHERE user_id = $1 AND case_id IS NULL) AS unjoined,
                (SELECT count(*)::int FROM alerts WHERE user_id = $1 AND case_id <> $2::bigint) AS elsewhere`,
        [USER, opened?.id],
      )
      expect(after).toEqual({ waits: 0, unjoined: 0, elsewhere: 0 })
      await waitFor(
        'no waiting alerts in the status',
        async () => (await worker.worker.status()).alertsWaitingForCase,
        (n) => n === 0,
        10_000,
      )
    } finally {
      await analyst?.query('ROLLBACK').catch(() => {})
      await worker.close()
    }
  }, 120_000)
})
