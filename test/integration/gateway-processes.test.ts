import { execFile } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  call,
  createApiKey,
  freshTransaction,
  gatewayArgs,
  ingestLogin,
  revokeApiKey,
  spawnGateway,
  type GatewayProcess,
} from '../support/gateway'
import { deleteKeys, migratedDatabase, query, testLayout, waitFor } from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * Two `aether gateway` processes on one team database and Redis, as behind a load balancer: a key
 * revoked is refused by both within a second, and a key's rate limit is one budget across both.
 */

const cleanups: (() => Promise<unknown>)[] = []
let database: TestDatabase
let urls: [string, string]
let ingestUrl: string

/** `aether …` as an operator runs it: a real process. */
function aether(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'test/support/aether-cli.ts', ...args],
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }),
    )
  })
}

beforeAll(async () => {
  database = await createTestDatabase('aether_gwx')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
  const login = await ingestLogin(database.url)
  cleanups.push(() => login.drop())
  ingestUrl = login.url
  const layout = testLayout(2)
  cleanups.push(() => deleteKeys(SHARED_REDIS_URL, layout.prefix))
  // The team's workers refuse what is dated before 2020: so must its gateways.
  const args = [
    ...gatewayArgs({ postgresUrl: login.url, layout, budgetMs: 20 }),
    '--rate-limit',
    '4/min',
    '--earliest-ts',
    '2020-01-01',
  ]
  const gateways: GatewayProcess[] = [spawnGateway(args), spawnGateway(args)]
  for (const gateway of gateways) cleanups.push(() => gateway.stop())
  urls = (await Promise.all(gateways.map((gateway) => gateway.url))) as [string, string]
}, 90_000)

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

describe('two gateway processes', () => {
  it('refuse a transaction dated outside the time window they were given, as the workers would', async () => {
    const key = await createApiKey(database.url, 'window')
    const response = await call<{ errors: { field: string; message: string }[] }>(
      urls[0],
      'POST',
      '/v1/transactions',
      key,
      { ...freshTransaction(), ts: '2015-06-01T00:00:00Z' },
    )
    expect(response.status).toBe(400)
    expect(response.body.errors[0]?.field).toBe('ts')
    expect(response.body.errors[0]?.message).toMatch(/before 2020-01-01/)
  })

  it('refuse a revoked key within a second, on every gateway', async () => {
    const key = await createApiKey(database.url, 'to-revoke')
    const [first, second] = urls
    const lookup = (url: string) => call(url, 'GET', `/v1/transactions/${freshTransaction().txn_id}`, key)
    // Both have checked (and cached) the key.
    expect((await lookup(first)).status).toBe(404)
    expect((await lookup(second)).status).toBe(404)
    await revokeApiKey(database.url, 'to-revoke')
    const revokedAt = Date.now()
    const refusedAfter = await Promise.all(
      urls.map(async (url) => {
        for (;;) {
          if ((await lookup(url)).status === 401) return Date.now() - revokedAt
          if (Date.now() - revokedAt > 5000) return Infinity
          await new Promise((resolve) => setTimeout(resolve, 25))
        }
      }),
    )
    for (const ms of refusedAfter) expect(ms).toBeLessThan(1000)
  })

  it('share one rate limit per key over every route: 429 with Retry-After once the budget is spent across both', async () => {
    const key = await createApiKey(database.url, 'limited')
    const other = await createApiKey(database.url, 'other')
    const [first, second] = urls
    const lookup = (url: string, as = key) =>
      call(url, 'GET', `/v1/transactions/${freshTransaction().txn_id}`, as)
    const submit = (url: string) => call(url, 'POST', '/v1/transactions', key, freshTransaction())
    // 4 a minute: a lookup and a submission on each gateway spend it.
    for (const url of [first, second]) {
      expect((await lookup(url)).status).toBe(404)
      expect((await submit(url)).status).toBe(200)
    }
    for (const url of [first, second]) {
      for (const limited of [await lookup(url), await submit(url)]) {
        expect(limited.status).toBe(429)
        expect(limited.body.error).toMatch(/Rate limit of 4 requests per 1 minute/)
        expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
      }
    }
    // Probes are not counted.
    expect((await call(first, 'GET', '/healthz')).status).toBe(200)
    // Another key has a budget of its own.
    expect((await lookup(first, other)).status).toBe(404)
  })
})

describe('aether apikey', () => {
  it('prints a new key once, lists keys with their last use, and is refused to non-admins', async () => {
    const added = await aether(['apikey', 'add', 'cli-made', '--scopes', 'read', '--url', database.url])
    expect(added.stderr).toBe('')
    const key = /^(aek_\S+)$/m.exec(added.stdout)?.[1]
    expect(key).toBeDefined()
    const [first] = urls
    expect((await call(first, 'GET', `/v1/transactions/${freshTransaction().txn_id}`, key)).status).toBe(404)
    expect((await call(first, 'POST', '/v1/transactions', key, freshTransaction())).status).toBe(403)
    // Only the hash is stored.
    const [stored] = await query<{ hash: Buffer }>(
      database.url,
      `SELECT hash FROM api_keys WHERE name = 'cli-made'`,
    )
    expect(stored?.hash.toString('hex')).not.toContain(Buffer.from(key as string).toString('hex'))
    // Last use is recorded within a few seconds (written in the background, not per request).
    await waitFor(
      'the last use recorded',
      () =>
        query<{ at: Date | null }>(
          database.url,
          `SELECT last_used_at AS at FROM api_keys WHERE name = 'cli-made'`,
        ),
      (rows) => rows[0]?.at != null,
      20_000,
    )
    const listed = await aether(['apikey', 'list', '--url', database.url])
    expect(listed.stdout).toMatch(/cli-made\tid \d+\tread\t.*\tlive\tlast used 20/)
    expect(listed.stdout).not.toContain('aek_')
    const refused = await aether(['apikey', 'add', 'sneaky', '--url', ingestUrl])
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toMatch(/Only administrators manage API keys/)
    const revoked = await aether(['apikey', 'revoke', 'cli-made', '--url', database.url])
    expect(revoked.stdout).toMatch(/Revoked key cli-made/)
    // --url is read by the same parser as every command's PostgreSQL URL.
    const notPostgres = await aether(['apikey', 'list', '--url', 'http://db.example/aether'])
    expect(notPostgres.code).not.toBe(0)
    expect(notPostgres.stderr).toMatch(/a PostgreSQL URL such as postgres:\/\//)
    // Six `aether` processes: each starts TypeScript from source, slow on a busy machine.
  }, 240_000)
})
