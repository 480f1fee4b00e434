import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningGateway } from '../../src/main/gateway/start'
import { partitionOf, type StreamLayout } from '../../src/main/pipeline/partitioning'
import type { TeamWorker } from '../../src/main/pipeline/team'
import {
  call,
  createApiKey,
  freshTransaction,
  ingestLogin,
  readFeed,
  startTestGateway,
} from '../support/gateway'
import { deleteKeys, migratedDatabase, query, startWorker, testLayout, waitFor } from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * The Decision API with a worker running: keys and scopes, validation by the stream's own rules, the
 * stored decision returned within the budget, duplicates answered from the store, batches, lookups,
 * the decisions feed, limits and the operations endpoints.
 */

const cleanups: (() => Promise<unknown>)[] = []
let database: TestDatabase
let layout: StreamLayout
let gateway: RunningGateway
let worker: TeamWorker
let submitKey: string
let readKey: string

beforeAll(async () => {
  database = await createTestDatabase('aether_gw')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
  const login = await ingestLogin(database.url)
  cleanups.push(() => login.drop())
  layout = testLayout(4)
  cleanups.push(() => deleteKeys(SHARED_REDIS_URL, layout.prefix))
  submitKey = await createApiKey(database.url, 'payments', ['submit', 'read'])
  readKey = await createApiKey(database.url, 'reports', ['read'])
  worker = startWorker({ postgres: { url: database.url }, redis: { url: SHARED_REDIS_URL }, layout })
  cleanups.push(() => worker.close())
  // The gateway connects as a login of the ingest group only, as a team runs it. A generous budget: on
  // a busy test machine the decision must still come back final.
  gateway = await startTestGateway({
    postgresUrl: login.url,
    redisUrl: SHARED_REDIS_URL,
    layout,
    budgetMs: 5000,
    metricsPort: 0,
  })
  cleanups.push(() => gateway.close())
}, 60_000)

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

interface StoredScore {
  score: number
  decision: string
  reasons: unknown[]
  rules_version: number
}

async function storedScore(txnId: string): Promise<StoredScore | undefined> {
  const [row] = await query<StoredScore>(
    database.url,
    'SELECT score, decision, reasons, rules_version FROM scores WHERE txn_id = $1',
    [txnId],
  )
  return row
}

describe('authentication', () => {
  it('refuses a request without a key (401), with an unknown key (401), or without the scope (403)', async () => {
    const body = freshTransaction()
    expect((await call(gateway.url, 'POST', '/v1/transactions', undefined, body)).status).toBe(401)
    const wrong = `${submitKey.slice(0, -4)}AAAA`
    expect((await call(gateway.url, 'POST', '/v1/transactions', wrong, body)).status).toBe(401)
    const forbidden = await call(gateway.url, 'POST', '/v1/transactions', readKey, body)
    expect(forbidden.status).toBe(403)
    expect(forbidden.body.error).toMatch(/submit/)
    // Nothing of the refused requests reached the store or the streams.
    const found = await call(gateway.url, 'GET', `/v1/transactions/${body.txn_id}`, readKey)
    expect(found.status).toBe(404)
  })
})

describe('validation', () => {
  it('answers 400 naming the field, by the same rules the stream uses', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...freshTransaction(), amount: '-5' }, 'amount'],
      [{ ...freshTransaction(), currency: undefined }, 'currency'],
      [{ ...freshTransaction(), user_id: 'a\u0000b' }, 'user_id'],
      // JSON can carry half a surrogate pair, UTF-8 cannot: the stream would get U+FFFD, the worker a
      // dead letter, and the client, told it was accepted, nothing.
      [{ ...freshTransaction(), user_id: 'U\ud800x' }, 'user_id'],
      [{ ...freshTransaction(), counterparty_id: 'M\udc00' }, 'counterparty_id'],
      // Refused by PostgreSQL's inet and timestamp after the stream had them: refused here first.
      [{ ...freshTransaction(), source_ip: '1:2' }, 'source_ip'],
      [{ ...freshTransaction(), source_ip: ':::' }, 'source_ip'],
      [{ ...freshTransaction(), ts: `${new Date().toISOString().slice(0, 19)}+16:00` }, 'ts'],
      [{ ...freshTransaction(), ts: `${new Date().toISOString().slice(0, 19)}.${'1'.repeat(200)}Z` }, 'ts'],
      // Valid for the schema, outside the workers' time window: the worker would dead-letter it.
      [{ ...freshTransaction(), ts: '1999-12-31T23:59:59Z' }, 'ts'],
    ]
    for (const [body, field] of cases) {
      const response = await call<{ errors: { field: string }[] }>(
        gateway.url,
        'POST',
        '/v1/transactions',
        submitKey,
        body,
      )
      expect(response.status, JSON.stringify(response.body)).toBe(400)
      expect(response.body.errors.map((error) => error.field)).toContain(field)
    }
    const notJson = await call(gateway.url, 'POST', '/v1/transactions', submitKey, '{"txn_id": ')
    expect(notJson.status).toBe(400)
    const poisoned = await call(gateway.url, 'POST', '/v1/transactions', submitKey, '{"__proto__": {"x": 1}}')
    expect(poisoned.status).toBe(400)
  })
})

describe('decisions', () => {
  it('returns within the budget exactly the decision the worker stored', async () => {
    const body = freshTransaction({ amount: '9000.00', type: 'TRANSFER' })
    const response = await call(gateway.url, 'POST', '/v1/transactions', submitKey, body)
    expect(response.status, JSON.stringify(response.body)).toBe(200)
    expect(response.body.final).toBe(true)
    expect(response.body.txn_id).toBe(body.txn_id)
    expect(response.body.latency_ms).toBeTypeOf('number')
    const stored = await storedScore(body.txn_id)
    expect(stored).toBeDefined()
    expect({
      score: response.body.score,
      decision: response.body.decision,
      reasons: response.body.reasons,
      rules_version: response.body.rules_version,
    }).toEqual(stored)
  })

  it('answers a repeat with the original decision, never a second row; other content is 409', async () => {
    const body = freshTransaction({ amount: '181.00' })
    const first = await call(gateway.url, 'POST', '/v1/transactions', submitKey, body)
    expect(first.status).toBe(200)
    // The same values written otherwise (181 is 181.00) are the same transaction.
    const again = await call(gateway.url, 'POST', '/v1/transactions', submitKey, { ...body, amount: '181' })
    expect(again.status).toBe(200)
    expect(again.body.duplicate).toBe(true)
    expect(again.body.final).toBe(true)
    expect({ ...again.body, latency_ms: 0, duplicate: undefined }).toEqual({
      ...first.body,
      latency_ms: 0,
      duplicate: undefined,
    })
    const conflict = await call(gateway.url, 'POST', '/v1/transactions', submitKey, {
      ...body,
      amount: '182.00',
    })
    expect(conflict.status).toBe(409)
    expect(conflict.body.fields).toEqual(['amount'])
    const [count] = await query<{ n: number }>(
      database.url,
      'SELECT count(*)::int AS n FROM transactions WHERE txn_id = $1',
      [body.txn_id],
    )
    expect(count?.n).toBe(1)
  })

  it('answers a repeat sent after the claim is gone from the worker: the original decision, 409 when it differs', async () => {
    const body = freshTransaction({ amount: '9000.00', type: 'TRANSFER' })
    const first = await call(gateway.url, 'POST', '/v1/transactions', submitKey, body)
    expect(first.body.final).toBe(true)
    // As after CLAIM_TTL_MS: the gateway writes the repeat; only the worker can tell it was stored.
    const redis = new Redis(SHARED_REDIS_URL)
    const claim = `${layout.prefix}gw:txn:{p${partitionOf(body.user_id, layout.partitions)}}:${body.txn_id}`
    try {
      expect(await redis.del(claim)).toBe(1)
      const again = await call(gateway.url, 'POST', '/v1/transactions', submitKey, body)
      expect(again.status).toBe(200)
      expect({ ...again.body, latency_ms: 0 }).toEqual({ ...first.body, latency_ms: 0, duplicate: true })
      expect(await redis.del(claim)).toBe(1)
      const conflict = await call(gateway.url, 'POST', '/v1/transactions', submitKey, {
        ...body,
        counterparty_id: 'M-other',
      })
      expect(conflict.status).toBe(409)
      expect(conflict.body.fields).toEqual(['counterparty_id'])
    } finally {
      redis.disconnect()
    }
    const [count] = await query<{ n: number }>(
      database.url,
      'SELECT count(*)::int AS n FROM transactions WHERE txn_id = $1',
      [body.txn_id],
    )
    expect(count?.n).toBe(1)
  })

  it('answers a repeat sent while the first is still on its way from the claim: 409 when it differs', async () => {
    const body = freshTransaction()
    const [first, conflict] = await Promise.all([
      call(gateway.url, 'POST', '/v1/transactions', submitKey, body),
      call(gateway.url, 'POST', '/v1/transactions', submitKey, { ...body, counterparty_id: 'M-other' }),
    ])
    // Whichever came first is the transaction; the other is a conflict.
    expect([first.status, conflict.status].sort()).toEqual([200, 409])
    // The one written gets its stored decision: the refused one's waiting did not take its reply away.
    const winner = first.status === 200 ? first : conflict
    expect(winner.body.final).toBe(true)
    await waitFor(
      'the transaction stored',
      () => storedScore(body.txn_id),
      (row) => row !== undefined,
    )
    const [count] = await query<{ n: number }>(
      database.url,
      'SELECT count(*)::int AS n FROM transactions WHERE txn_id = $1',
      [body.txn_id],
    )
    expect(count?.n).toBe(1)
  })

  it('answers 409 to a version of another user sent at once, not the other version’s decision', async () => {
    // Another user lands on another partition: the two claims do not meet, both are written, and the
    // worker finds the second a conflicting duplicate; its request must hear that, not the first's reply.
    const body = freshTransaction()
    let other = `${body.user_id}-x`
    for (
      let i = 0;
      partitionOf(other, layout.partitions) === partitionOf(body.user_id, layout.partitions);
      i++
    )
      other = `${body.user_id}-x${i}`
    for (let round = 0; round < 3; round++) {
      const versions = [
        { ...body, txn_id: crypto.randomUUID() },
        { ...body, user_id: other, amount: '7.00' },
      ]
      versions[1] = { ...versions[1], txn_id: versions[0]?.txn_id } as (typeof versions)[number]
      const answers = await Promise.all(
        versions.map((version) => call(gateway.url, 'POST', '/v1/transactions', submitKey, version)),
      )
      expect(
        answers.map((answer) => answer.status).sort(),
        JSON.stringify(answers.map((a) => a.body)),
      ).toEqual([200, 409])
      const winner = answers.findIndex((answer) => answer.status === 200)
      const stored = await waitFor(
        'the winner stored',
        () => storedScore(versions[winner]?.txn_id ?? ''),
        (row) => row !== undefined,
      )
      expect(answers[winner]?.body.decision).toBe(stored?.decision)
      const [row] = await query<{ user_id: string }>(
        database.url,
        'SELECT user_id FROM transactions WHERE txn_id = $1',
        [versions[winner]?.txn_id],
      )
      expect(row?.user_id).toBe(versions[winner]?.user_id)
    }
  })

  it('tells the status and decision of a transaction by its id', async () => {
    const body = freshTransaction()
    const posted = await call(gateway.url, 'POST', '/v1/transactions', submitKey, body)
    const found = await call<{ status: string; decision: Record<string, unknown> }>(
      gateway.url,
      'GET',
      `/v1/transactions/${body.txn_id.toUpperCase()}`,
      readKey,
    )
    expect(found.status).toBe(200)
    expect(found.body.status).toBe('stored')
    expect(found.body.decision).toEqual({ ...posted.body, latency_ms: undefined, final: true })
    const notUuid = await call(gateway.url, 'GET', '/v1/transactions/nope', readKey)
    expect(notUuid.status).toBe(400)
  })
})

describe('batches', () => {
  it('answers 202 with a status per item and stores every accepted one once', async () => {
    const stored = freshTransaction()
    expect((await call(gateway.url, 'POST', '/v1/transactions', submitKey, stored)).status).toBe(200)
    const fresh = freshTransaction()
    const items = [
      fresh,
      { ...freshTransaction(), type: 'GIFT' },
      stored,
      fresh,
      { ...stored, amount: '1.00' },
    ]
    const response = await call<{
      items: { status: string; errors?: { field: string }[]; fields?: string[] }[]
      accepted: number
    }>(gateway.url, 'POST', '/v1/transactions/batch', submitKey, { transactions: items })
    expect(response.status).toBe(202)
    expect(response.body.items.map((item) => item.status)).toEqual([
      'accepted',
      'invalid',
      'duplicate',
      'duplicate',
      'conflict',
    ])
    expect(response.body.items[1]?.errors?.map((error) => error.field)).toEqual(['type'])
    expect(response.body.items[4]?.fields).toEqual(['amount'])
    await waitFor(
      'the accepted one stored',
      () => storedScore(fresh.txn_id),
      (row) => row !== undefined,
    )
    const tooMany = await call(gateway.url, 'POST', '/v1/transactions/batch', submitKey, {
      transactions: Array.from({ length: 1001 }, () => ({})),
    })
    expect(tooMany.status).toBe(400)
  })
})

describe('decisions feed', () => {
  it('streams review and block decisions and resumes after the last event id without a gap', async () => {
    const blocked = `U-feed-${Date.now()}`
    await query(database.url, `INSERT INTO lists (kind, value, reason) VALUES ('user', $1, 'test')`, [
      blocked,
    ])
    const post = async () => {
      const body = freshTransaction({ user_id: blocked })
      const response = await call(gateway.url, 'POST', '/v1/transactions', submitKey, body)
      expect(response.body.decision).toBe('block')
      return body.txn_id
    }
    const [firstEvent, first] = await Promise.all([readFeed(gateway.url, readKey, 1), post()])
    expect(firstEvent.map((event) => event.txn_id)).toEqual([first])
    const last = (firstEvent[0] as { id: number }).id
    // Disconnected meanwhile: the next ones are there on resume, and nothing is sent twice.
    const missed = [await post(), await post()]
    const resumed = await readFeed(gateway.url, readKey, 2, { lastEventId: last })
    expect(resumed.map((event) => event.txn_id)).toEqual(missed)
    expect(resumed.map((event) => event.decision)).toEqual(['block', 'block'])
    expect((await readFeed(gateway.url, readKey, 1, { lastEventId: last }))[0]?.txn_id).toBe(missed[0])
  })
})

describe('limits', () => {
  it('refuses oversized bodies (413) and headers (431) and keeps serving', async () => {
    const big = { ...freshTransaction(), merchant_type: 'x'.repeat(20_000) }
    expect((await call(gateway.url, 'POST', '/v1/transactions', submitKey, big)).status).toBe(413)
    const response = await fetch(`${gateway.url}/healthz`, { headers: { 'x-padding': 'y'.repeat(20_000) } })
    expect(response.status).toBe(431)
    expect((await call(gateway.url, 'GET', '/healthz')).status).toBe(200)
  })
})

describe('operations', () => {
  it('serves health, readiness and an OpenAPI document generated from the schemas', async () => {
    expect((await call(gateway.url, 'GET', '/healthz')).status).toBe(200)
    const ready = await call(gateway.url, 'GET', '/readyz')
    expect(ready.body).toMatchObject({
      status: 'ready',
      store: true,
      redis: true,
      partitions: { owned: 4, total: 4 },
    })
    const openapi = await call<{
      openapi: string
      components: { schemas: { Transaction: { properties: Record<string, unknown>; required: string[] } } }
    }>(gateway.url, 'GET', '/openapi.json')
    expect(openapi.body.openapi).toBe('3.1.0')
    const transaction = openapi.body.components.schemas.Transaction
    expect(Object.keys(transaction.properties)).toContain('cp_balance_after')
    expect(transaction.required).toEqual(
      expect.arrayContaining(['txn_id', 'ts', 'user_id', 'counterparty_id', 'type', 'amount', 'currency']),
    )
  })

  it('is ready on a fresh deployment before its first transaction', async () => {
    const fresh = testLayout(3)
    cleanups.push(() => deleteKeys(SHARED_REDIS_URL, fresh.prefix))
    const second = startWorker({
      postgres: { url: database.url },
      redis: { url: SHARED_REDIS_URL },
      layout: fresh,
    })
    cleanups.push(() => second.close())
    const other = await startTestGateway({
      postgresUrl: database.url,
      redisUrl: SHARED_REDIS_URL,
      layout: fresh,
    })
    cleanups.push(() => other.close())
    // A load balancer routes nothing to a gateway that is not ready: it must not wait for traffic.
    const ready = await waitFor(
      'the fresh gateway to be ready',
      () => call(other.url, 'GET', '/readyz'),
      (response) => response.status === 200,
      10_000,
    )
    expect(ready.body).toMatchObject({ partitions: { owned: 3, total: 3 } })
  })

  it('serves metrics by key and decision latency on the metrics port only, never on the API port', async () => {
    const body = freshTransaction()
    expect((await call(gateway.url, 'POST', '/v1/transactions', submitKey, body)).status).toBe(200)
    // The API's callers must not learn the names of the other keys or the traffic.
    const onApi = await call<string>(gateway.url, 'GET', '/metrics')
    expect(onApi.status).toBe(404)
    expect(String(onApi.body)).not.toContain('payments')

    expect(gateway.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    const text = await (await fetch(gateway.metricsUrl as string)).text()
    expect(text).toMatch(
      /aether_gateway_requests_total\{route="\/v1\/transactions",status="200",key="payments"\} \d+/,
    )
    expect(text).toMatch(/aether_gateway_decisions_total\{final="true",decision="\w+"\} \d+/)
    expect(text).toMatch(/aether_gateway_decision_seconds_count\{final="true"\} [1-9]\d*/)
    expect(text).toMatch(/aether_gateway_decision_budget_seconds 5\b/)
    // The standard process metrics come with them (CPU, memory, event-loop lag).
    expect(text).toMatch(/process_cpu_user_seconds_total \d/)
    expect(text).toMatch(/nodejs_eventloop_lag_seconds \d/)
  })
})
