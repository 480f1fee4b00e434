import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readGateways, type GatewayReport } from '../../src/main/gateway/registry'
import {
  call,
  createApiKey,
  freshTransaction,
  gatewayArgs,
  ingestLogin,
  readFeed,
  spawnGateway,
  type GatewayProcess,
} from '../support/gateway'
import { deleteKeys, migratedDatabase, testLayout, waitFor } from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * The gateways as the Dashboard reads them: two `aether gateway` processes on one Redis each publish
 * their rate, p99, share of final decisions and refusals by key name; one killed shows as not alive,
 * one stopped cleanly is gone.
 */

const cleanups: (() => Promise<unknown>)[] = []
let database: TestDatabase
let gateways: [GatewayProcess, GatewayProcess]
let urls: [string, string]
let redis: Redis
const layout = testLayout(2)

beforeAll(async () => {
  database = await createTestDatabase('aether_gwreg')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
  const login = await ingestLogin(database.url)
  cleanups.push(() => login.drop())
  cleanups.push(() => deleteKeys(SHARED_REDIS_URL, layout.prefix))
  redis = new Redis(SHARED_REDIS_URL)
  cleanups.push(async () => redis.disconnect())
  // No worker runs: every decision is provisional, after this budget.
  const args = gatewayArgs({ postgresUrl: login.url, layout, budgetMs: 20 })
  gateways = [spawnGateway(args), spawnGateway(args)]
  for (const gateway of gateways) cleanups.push(() => gateway.stop())
  urls = (await Promise.all(gateways.map((gateway) => gateway.url))) as [string, string]
}, 90_000)

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)

const byUrl = (reports: GatewayReport[], url: string) => reports.find((report) => report.url === url)

describe('the gateway registry', () => {
  it('lists every gateway with its rate, p99, final share and errors by key name', async () => {
    const payments = await createApiKey(database.url, 'payments')
    const careless = await createApiKey(database.url, 'careless')
    const [first, second] = urls
    // On the first: decisions (provisional: no worker), and refusals of the careless key.
    for (let i = 0; i < 5; i++) {
      const decided = await call(first, 'POST', '/v1/transactions', payments, freshTransaction())
      expect(decided.body.final).toBe(false)
    }
    for (let i = 0; i < 3; i++)
      expect((await call(first, 'POST', '/v1/transactions', careless, { amount: 'x' })).status).toBe(400)
    expect((await call(first, 'GET', '/v1/transactions/not-a-uuid', 'aek_wrong')).status).toBe(401)
    // A load balancer's probes are not API traffic: /readyz says 503 (no worker owns the partitions) and
    // neither it nor /healthz shows as a request or an error of "(no key)".
    for (let i = 0; i < 3; i++) {
      expect((await call(first, 'GET', '/readyz')).status).toBe(503)
      expect((await call(first, 'GET', '/healthz')).status).toBe(200)
      expect((await call(first, 'GET', '/no-such-path')).status).toBe(404)
    }
    // On the second: lookups only, no errors.
    for (let i = 0; i < 4; i++)
      expect(
        (await call(second, 'GET', `/v1/transactions/${freshTransaction().txn_id}`, payments)).status,
      ).toBe(404)

    const reports = await waitFor(
      'both gateways reporting what they did',
      () => readGateways(redis, layout.prefix),
      (seen) =>
        (byUrl(seen, first)?.errorsByKey.length ?? 0) === 2 &&
        (byUrl(seen, second)?.requestsPerSecond ?? 0) > 0,
      30_000,
    )
    expect(reports).toHaveLength(2)
    const [a, b] = [byUrl(reports, first), byUrl(reports, second)]
    expect(a?.alive).toBe(true)
    expect(b?.alive).toBe(true)
    expect(a?.id).not.toBe(b?.id)
    // 9 requests over a 10 s window; some may still be in the current, uncounted second.
    expect(a?.requestsPerSecond).toBeGreaterThan(0)
    expect(a?.requestsPerSecond).toBeLessThanOrEqual(0.9)
    expect(a?.finalPct).toBe(0)
    expect(a?.p99Ms).toBeGreaterThanOrEqual(20)
    expect(a?.errorsByKey).toEqual([
      { key: 'careless', errors: 3 },
      { key: '(no key)', errors: 1 },
    ])
    expect(b?.errorsByKey).toEqual([])
    expect(b?.p99Ms).toBeNull()
    expect(b?.finalPct).toBeNull()
    for (const report of reports) {
      expect(Date.parse(report.startedAt)).toBeLessThanOrEqual(Date.parse(report.seenAt))
      expect(Date.now() - Date.parse(report.seenAt)).toBeLessThan(10_000)
    }
  })

  it("logs each API request with its key's name, never the key: an operator's audit of reads too", async () => {
    const auditor = await createApiKey(database.url, 'auditor')
    const [first] = urls
    const submitted = freshTransaction()
    expect((await call(first, 'POST', '/v1/transactions', auditor, submitted)).status).toBe(200)
    expect((await call(first, 'GET', `/v1/transactions/${submitted.txn_id}`, auditor)).status).not.toBe(401)
    const batch = await call(first, 'POST', '/v1/transactions/batch', auditor, {
      transactions: [freshTransaction(), submitted, { txn_id: 'nope' }],
    })
    expect(batch.status).toBe(202)
    // The feed: its opening and its end (this client leaves after the heartbeat-free wait).
    expect(await readFeed(first, auditor, 1, {}, 1500)).toEqual([])
    const lines = await waitFor(
      "the auditor's requests and feed in the gateway's log",
      async () => jsonLines(gateways[0].output()).filter((line) => line.key === 'auditor'),
      (seen) => seen.some((line) => line.msg === 'decisions feed ended'),
      20_000,
    )
    const keyId = lines[0]?.key_id
    expect(typeof keyId).toBe('string')
    expect(lines.map(({ msg, route, method, status }) => ({ msg, route, method, status }))).toEqual([
      { msg: 'api request', route: '/v1/transactions', method: 'POST', status: 200 },
      { msg: 'api request', route: '/v1/transactions/:txn_id', method: 'GET', status: expect.any(Number) },
      { msg: 'api request', route: '/v1/transactions/batch', method: 'POST', status: 202 },
      { msg: 'decisions feed opened', route: '/v1/decisions', method: undefined, status: undefined },
      { msg: 'decisions feed ended', route: '/v1/decisions', method: undefined, status: undefined },
    ])
    for (const line of lines) expect(line).toMatchObject({ level: 'info', role: 'gateway', key_id: keyId })
    expect(lines[0]).toMatchObject({ txn_id: submitted.txn_id, final: false, decision: expect.any(String) })
    expect(lines[1]).toMatchObject({ txn_id: submitted.txn_id })
    expect(lines[2]).toMatchObject({ batch: { items: 3, accepted: 1, duplicates: 1, invalid: 1 } })
    expect(lines[4]).toMatchObject({ events: 0 })
    // Refusals are there too, without a key name; probes are not; the secret never is.
    const all = jsonLines(gateways[0].output())
    expect(all.some((line) => line.status === 401 && line.key === null)).toBe(true)
    expect(all.some((line) => line.route === '/readyz' || line.route === '/healthz')).toBe(false)
    expect(gateways[0].output()).not.toContain(auditor)
  })

  it('shows a killed gateway as not alive, and forgets one stopped cleanly', async () => {
    const [first, second] = urls
    gateways[1].child.kill('SIGKILL')
    const afterKill = await waitFor(
      'the killed gateway not alive',
      () => readGateways(redis, layout.prefix),
      (seen) => byUrl(seen, second)?.alive === false,
      30_000,
    )
    expect(byUrl(afterKill, first)?.alive).toBe(true)
    // Alive ones are listed first.
    expect(afterKill.map((report) => report.url)).toEqual([first, second])
    await gateways[0].stop()
    const afterStop = await readGateways(redis, layout.prefix)
    expect(byUrl(afterStop, first)).toBeUndefined()
    expect(byUrl(afterStop, second)?.alive).toBe(false)
  })
})
