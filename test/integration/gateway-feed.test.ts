import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DecisionFeed } from '../../src/main/pipeline/decision-feed'
import { openPostgresStore, type Store } from '../../src/main/store/store'
import { ingestLogin } from '../support/gateway'
import { migratedDatabase, waitFor } from '../support/pipeline'
import { createTestDatabase, type TestDatabase } from '../support/services'

/**
 * The decisions feed hands out an alert only once no lower id can still appear: two workers commit in
 * any order, and a reader that resumed after the higher id would otherwise never see the lower one.
 */

const cleanups: (() => Promise<unknown>)[] = []
let database: TestDatabase
let store: Store

beforeAll(async () => {
  database = await createTestDatabase('aether_gwf')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
  const login = await ingestLogin(database.url)
  cleanups.push(() => login.drop())
  // As the gateway reads it: a login of the ingest group.
  store = openPostgresStore({ connectionString: login.url, max: 2 })
  cleanups.push(() => store.close())
}, 60_000)

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

async function client(): Promise<pg.Client> {
  const connection = new pg.Client({ connectionString: database.url })
  await connection.connect()
  cleanups.push(() => connection.end())
  return connection
}

/** A transaction and its alert, in the caller's open database transaction; the alert's id. */
async function insertAlert(connection: pg.Client): Promise<number> {
  const txnId = randomUUID()
  await connection.query(
    `INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency)
     VALUES ($1, now(), $2, 'M-1', 'PAYMENT', 10, 'USD')`,
    // A user of its own: alerts of one user open one case, and the second writer would wait for the first.
    [txnId, `U-${txnId}`],
  )
  const { rows } = await connection.query<{ id: string }>(
    `INSERT INTO alerts (txn_id, score, decision) VALUES ($1, 90, 'block') RETURNING id`,
    [txnId],
  )
  return Number(rows[0]?.id)
}

describe('the decisions feed', () => {
  it('holds a committed alert back while a lower id is still being written, then gives both in order', async () => {
    const feed = new DecisionFeed(store.db, 50)
    await feed.start(store.listen)
    cleanups.push(() => feed.stop())
    const slow = await client()
    const fast = await client()
    await slow.query('BEGIN')
    const lower = await insertAlert(slow)
    await fast.query('BEGIN')
    const higher = await insertAlert(fast)
    await fast.query('COMMIT')
    expect(higher).toBeGreaterThan(lower)

    // The higher one is committed and visible, but not final while the lower one may still come.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(feed.finalId).toBeLessThan(lower)
    expect(await feed.read(0)).toEqual([])

    await slow.query('COMMIT')
    await waitFor(
      'both alerts final',
      async () => feed.finalId,
      (id) => id >= higher,
      10_000,
    )
    expect((await feed.read(0)).map((event) => event.id)).toEqual([lower, higher])
    expect((await feed.read(lower)).map((event) => event.id)).toEqual([higher])
  })
})
