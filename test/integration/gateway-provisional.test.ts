import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningGateway } from '../../src/main/gateway/start'
import type { StreamLayout } from '../../src/main/pipeline/partitioning'
import { call, createApiKey, freshTransaction, ingestLogin, startTestGateway } from '../support/gateway'
import { deleteKeys, migratedDatabase, query, startWorker, testLayout, waitFor } from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * No worker running: past its budget the gateway answers with a provisional decision from the same
 * scorer (the lists in force included), the transaction waits on its stream as pending, and once a
 * worker runs its final decision is stored and read back. A backlog past the bound refuses new work.
 */

const cleanups: (() => Promise<unknown>)[] = []
let database: TestDatabase
let ingestUrl: string
let key: string

beforeAll(async () => {
  database = await createTestDatabase('aether_gwp')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
  const login = await ingestLogin(database.url)
  cleanups.push(() => login.drop())
  ingestUrl = login.url
  key = await createApiKey(database.url, 'payments')
}, 60_000)

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

async function gatewayOn(
  layout: StreamLayout,
  extra: Parameters<typeof startTestGateway>[0] extends infer O ? Partial<O> : never,
) {
  cleanups.push(() => deleteKeys(SHARED_REDIS_URL, layout.prefix))
  const gateway: RunningGateway = await startTestGateway({
    postgresUrl: ingestUrl,
    redisUrl: SHARED_REDIS_URL,
    layout,
    ...extra,
  })
  cleanups.push(() => gateway.close())
  return gateway
}

describe('past the budget', () => {
  it('answers provisionally with the lists in force, then the final decision once a worker stores it', async () => {
    const layout = testLayout(4)
    const gateway = await gatewayOn(layout, { budgetMs: 150 })
    const body = freshTransaction({ user_id: 'U-blocked-1' })
    await query(
      database.url,
      `INSERT INTO lists (kind, value, reason) VALUES ('user', 'U-blocked-1', 'test')`,
    )

    const posted = await call(gateway.url, 'POST', '/v1/transactions', key, body)
    expect(posted.status).toBe(200)
    expect(posted.body).toMatchObject({ txn_id: body.txn_id, final: false, decision: 'block' })
    expect(posted.body.latency_ms).toBeGreaterThanOrEqual(150)

    const pending = await call(gateway.url, 'GET', `/v1/transactions/${body.txn_id}`, key)
    expect(pending.body).toEqual({ txn_id: body.txn_id, status: 'pending' })

    const worker = startWorker({ postgres: { url: database.url }, redis: { url: SHARED_REDIS_URL }, layout })
    cleanups.push(() => worker.close())
    const stored = await waitFor(
      'the final decision',
      () =>
        call<{ status: string; decision?: Record<string, unknown> }>(
          gateway.url,
          'GET',
          `/v1/transactions/${body.txn_id}`,
          key,
        ),
      (response) => response.body.status === 'stored',
    )
    const [row] = await query<Record<string, unknown>>(
      database.url,
      'SELECT score, decision, reasons, rules_version FROM scores WHERE txn_id = $1',
      [body.txn_id],
    )
    expect(stored.body.decision).toEqual({ txn_id: body.txn_id, final: true, ...row })
    // The provisional decision was the one the worker made: same scorer, same state, same lists.
    expect({ ...posted.body, final: true, latency_ms: undefined }).toEqual({
      ...stored.body.decision,
      latency_ms: undefined,
    })
  })
})

describe('shutdown', () => {
  it('answers every request in flight before it closes', async () => {
    const gateway = await gatewayOn(testLayout(2), { budgetMs: 1500 })
    const inFlight = call(gateway.url, 'POST', '/v1/transactions', key, freshTransaction())
    // The request is waiting for its decision (no worker runs) when the gateway is told to stop.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const closed = gateway.close()
    const answered = await inFlight
    const answeredAt = Date.now()
    expect(answered.status).toBe(200)
    expect(answered.body.final).toBe(false)
    await closed
    // Promptly: its kept-alive connection does not hold the close up.
    expect(Date.now() - answeredAt).toBeLessThan(2000)
    await expect(fetch(`${gateway.url}/healthz`)).rejects.toThrow()
  })
})

describe('backpressure', () => {
  it('answers 503 with Retry-After once the backlog passes its bound', async () => {
    const layout = testLayout(2)
    const gateway = await gatewayOn(layout, { budgetMs: 50, maxBacklog: 3, backlogEveryMs: 50 })
    const batch = await call(gateway.url, 'POST', '/v1/transactions/batch', key, {
      transactions: Array.from({ length: 4 }, () => freshTransaction()),
    })
    expect(batch.status).toBe(202)
    const refused = await waitFor(
      'a 503',
      () => call(gateway.url, 'POST', '/v1/transactions', key, freshTransaction()),
      (response) => response.status === 503,
      10_000,
    )
    expect(refused.headers.get('retry-after')).toBe('1')
    // Lookups still work: only new transactions are refused.
    const lookup = await call(gateway.url, 'GET', `/v1/transactions/${freshTransaction().txn_id}`, key)
    expect(lookup.status).toBe(404)
    // No worker owns the partitions: not ready, and it says why.
    const ready = await call(gateway.url, 'GET', '/readyz')
    expect(ready.status).toBe(503)
    expect(ready.body).toMatchObject({ store: true, redis: true, partitions: { owned: 0, total: 2 } })
  })
})
