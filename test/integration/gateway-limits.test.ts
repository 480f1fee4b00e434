import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../../src/main/gateway/app'
import type { RunningGateway } from '../../src/main/gateway/start'
import type { StreamLayout } from '../../src/main/pipeline/partitioning'
import { call, createApiKey, freshTransaction, ingestLogin, startTestGateway } from '../support/gateway'
import { migratedDatabase, testLayout, withTableLocked } from '../support/pipeline'
import { startPrivateRedis, type PrivateRedis } from '../support/private-servers'
import { createTestDatabase, type TestDatabase } from '../support/services'

/**
 * The Decision API when its clients or its services misbehave: an address sending made-up keys stops
 * costing store reads, and a PostgreSQL or Redis that does not answer gives 503 in seconds instead of
 * holding every request (and its socket) for as long as the server hangs.
 */

const cleanups: (() => Promise<unknown>)[] = []
let database: TestDatabase
let redis: PrivateRedis
let layout: StreamLayout
let gateway: RunningGateway
let key: string
let loginUrl: string

const SERVICE_TIMEOUT_MS = 1000
const FAILURES = 5

/** A key of the right form whose id names no key. */
const madeUpKey = () =>
  `aek_${1_000_000 + Math.floor(Math.random() * 1e9)}_${randomBytes(32).toString('base64url')}`

beforeAll(async () => {
  database = await createTestDatabase('aether_gw_limits')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
  const login = await ingestLogin(database.url)
  cleanups.push(() => login.drop())
  loginUrl = login.url
  // Its own Redis: the test pauses it.
  redis = await startPrivateRedis()
  cleanups.push(() => redis.stop())
  layout = testLayout(2)
  key = await createApiKey(database.url, 'payments', ['submit', 'read'])
  gateway = await startTestGateway({
    postgresUrl: login.url,
    redisUrl: redis.url,
    layout,
    budgetMs: 100,
    serviceTimeoutMs: SERVICE_TIMEOUT_MS,
    // The valid key stays cached through the test: its check needs no store read.
    keyCacheMs: 600_000,
    metricsPort: 0,
    limits: { ...DEFAULT_LIMITS, authFailures: { max: FAILURES, windowMs: 60_000 } },
  })
  cleanups.push(() => gateway.close())
}, 60_000)

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now()
  const value = await work()
  return { value, ms: performance.now() - started }
}

describe('an address sending invalid keys', () => {
  it('gets 429 without a store read once past its budget, while a known key from it still works', async () => {
    // Known to the gateway before the misbehaviour.
    expect((await call(gateway.url, 'POST', '/v1/transactions', key, freshTransaction())).status).toBe(200)
    const statuses: number[] = []
    for (let i = 0; i < FAILURES; i++)
      statuses.push(
        (await call(gateway.url, 'POST', '/v1/transactions', madeUpKey(), freshTransaction())).status,
      )
    expect(statuses).toEqual(Array.from({ length: FAILURES }, () => 401))

    // With api_keys locked, a read would wait out the statement timeout (503): a 429 at once shows none.
    await withTableLocked(database.url, 'api_keys', async () => {
      const refused = await timed(() =>
        Promise.all(
          Array.from({ length: 50 }, () =>
            call<{ error: string }>(gateway.url, 'POST', '/v1/transactions', madeUpKey(), freshTransaction()),
          ),
        ),
      )
      expect(refused.value.map((r) => r.status)).toEqual(Array.from({ length: 50 }, () => 429))
      expect(refused.ms).toBeLessThan(SERVICE_TIMEOUT_MS)
      const [first] = refused.value
      expect(Number(first?.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(first?.body.error).toMatch(/invalid API keys from this address/)
      const known = await call(gateway.url, 'POST', '/v1/transactions', key, freshTransaction())
      expect(known.status).toBe(200)
    })
    const metrics = await call<string>(String(gateway.metricsUrl), 'GET', '')
    expect(metrics.body).toMatch(/aether_gateway_refused_total\{reason="auth_failures"\} 50\n/)
  }, 60_000)
})

/**
 * A POST of a transaction from `localAddress` (any 127.x address is this machine's), naming `forwardedFor`
 * as the client, as a reverse proxy does.
 */
function postFrom(
  localAddress: string,
  presented: string,
  forwardedFor?: string,
  to: RunningGateway = gateway,
): Promise<number> {
  const url = new URL(`${to.url}/v1/transactions`)
  const body = JSON.stringify(freshTransaction())
  return new Promise((resolve, reject) => {
    const sent = request(
      url,
      {
        method: 'POST',
        localAddress,
        headers: {
          authorization: `Bearer ${presented}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(forwardedFor !== undefined ? { 'x-forwarded-for': forwardedFor } : {}),
        },
      },
      (response) => {
        response.resume()
        resolve(response.statusCode ?? 0)
      },
    )
    sent.on('error', reject)
    sent.end(body)
  })
}

describe('made-up keys sent all at once', () => {
  it('cost at most the budget of store reads: each is counted before its read', async () => {
    // Counted after the read, 3,000 sent together all passed a budget of 20 (each one a store read).
    const statuses = await Promise.all(Array.from({ length: 100 }, () => postFrom('127.0.0.2', madeUpKey())))
    const read = statuses.filter((status) => status === 401).length
    expect(read).toBeGreaterThan(0)
    expect(read).toBeLessThanOrEqual(FAILURES)
    expect(statuses.filter((status) => status === 429)).toHaveLength(100 - read)
    // The key the gateway knows still works from there.
    expect(await postFrom('127.0.0.2', key)).toBe(200)
  })
})

describe('clients behind a reverse proxy', () => {
  const badKeys = (from: string, forwardedFor: (i: number) => string, to: RunningGateway) =>
    Promise.all(
      Array.from({ length: FAILURES + 3 }, (_, i) => postFrom(from, madeUpKey(), forwardedFor(i), to)),
    )

  it("with --trust-proxy, one client's invalid keys do not lock out the others behind the same proxy", async () => {
    const proxied = await startTestGateway({
      postgresUrl: loginUrl,
      redisUrl: redis.url,
      layout,
      metricsPort: 0,
      limits: { ...DEFAULT_LIMITS, authFailures: { max: FAILURES, windowMs: 60_000 } },
      trustProxy: ['127.0.0.5'],
    })
    cleanups.push(() => proxied.close())
    const statuses = await badKeys('127.0.0.5', () => '198.51.100.7', proxied)
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThan(0)
    // Another client behind the proxy has a budget of its own, and a valid key works for everyone.
    expect(await postFrom('127.0.0.5', madeUpKey(), '198.51.100.8', proxied)).toBe(401)
    expect(await postFrom('127.0.0.5', key, '198.51.100.9', proxied)).toBe(200)
    // The proxy's own address is not the client: a header from an address it does not trust is ignored.
    const direct = await badKeys('127.0.0.6', (i) => `203.0.113.${i}`, proxied)
    expect(direct.filter((status) => status === 429).length).toBeGreaterThan(0)
  })

  it('without it, a client naming other addresses in X-Forwarded-For still spends its own budget', async () => {
    const statuses = await badKeys('127.0.0.7', (i) => `203.0.113.${i}`, gateway)
    expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(FAILURES)
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(3)
  })
})

describe('a service that does not answer', () => {
  it('answers 503 after the timeout while PostgreSQL waits on a lock, then serves again', async () => {
    const posted = freshTransaction()
    expect((await call(gateway.url, 'POST', '/v1/transactions', key, posted)).status).toBe(200)
    const txnId = String((posted as { txn_id: string }).txn_id)
    const waited = await withTableLocked(database.url, 'transactions', () =>
      timed(() => call<{ error: string }>(gateway.url, 'GET', `/v1/transactions/${txnId}`, key)),
    )
    expect(waited.value.status).toBe(503)
    expect(waited.value.headers.get('retry-after')).toBe('1')
    expect(waited.ms).toBeGreaterThanOrEqual(SERVICE_TIMEOUT_MS * 0.9)
    expect(waited.ms).toBeLessThan(SERVICE_TIMEOUT_MS * 5)
    expect((await call(gateway.url, 'GET', `/v1/transactions/${txnId}`, key)).status).toBe(200)
  }, 60_000)

  it('answers 503 after the timeout while Redis is paused, then serves again', async () => {
    const admin = new Redis(redis.url)
    try {
      // Paused clients include this one: the pause ends by itself.
      const pauseMs = 3 * SERVICE_TIMEOUT_MS
      await admin.client('PAUSE', pauseMs, 'ALL')
      const pausedAt = performance.now()
      const waited = await timed(() =>
        call<{ error: string }>(gateway.url, 'POST', '/v1/transactions', key, freshTransaction()),
      )
      expect(waited.value.status).toBe(503)
      expect(waited.value.body.error).toMatch(/unavailable/)
      expect(waited.ms).toBeLessThan(SERVICE_TIMEOUT_MS * 3)
      await new Promise((resolve) => setTimeout(resolve, pauseMs - (performance.now() - pausedAt) + 200))
      expect((await call(gateway.url, 'POST', '/v1/transactions', key, freshTransaction())).status).toBe(200)
    } finally {
      admin.disconnect()
    }
  }, 60_000)
})

describe('a body nested a million deep', () => {
  it('is refused (400) naming the depth, before JSON.parse would hold the thread', async () => {
    const nested = `{"transactions":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`
    const refused = await call<{ error: string }>(gateway.url, 'POST', '/v1/transactions/batch', key, nested)
    expect(refused.status).toBe(400)
    expect(refused.body.error).toMatch(/nests arrays and objects more than 16 deep/)
    // A batch as deep as a batch is stays welcome, with or without a charset.
    const batch = await fetch(`${gateway.url}/v1/transactions/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ transactions: [freshTransaction()] }),
    })
    expect(batch.status).toBe(202)
  })
})
