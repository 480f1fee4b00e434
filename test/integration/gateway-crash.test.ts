import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TeamWorker } from '../../src/main/pipeline/team'
import {
  call,
  createApiKey,
  freshTransaction,
  gatewayArgs,
  ingestLogin,
  spawnGateway,
  type GatewayProcess,
} from '../support/gateway'
import { deleteKeys, migratedDatabase, query, startWorker, testLayout, waitFor } from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * A gateway killed with SIGKILL while a client sends: the client retries on the other gateway, and
 * every transaction it saw accepted, and every one it retried, is stored exactly once.
 */

const cleanups: (() => Promise<unknown>)[] = []
let database: TestDatabase
let gateways: GatewayProcess[]
let urls: string[]
let key: string

beforeAll(async () => {
  database = await createTestDatabase('aether_gwk')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
  const login = await ingestLogin(database.url)
  cleanups.push(() => login.drop())
  const layout = testLayout(2)
  cleanups.push(() => deleteKeys(SHARED_REDIS_URL, layout.prefix))
  key = await createApiKey(database.url, 'payments')
  const worker: TeamWorker = startWorker({
    postgres: { url: database.url },
    redis: { url: SHARED_REDIS_URL },
    layout,
  })
  cleanups.push(() => worker.close())
  const args = gatewayArgs({ postgresUrl: login.url, layout, budgetMs: 200 })
  gateways = [spawnGateway(args), spawnGateway(args)]
  for (const gateway of gateways) cleanups.push(() => gateway.stop())
  urls = await Promise.all(gateways.map((gateway) => gateway.url))
}, 90_000)

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

describe('a gateway killed under load', () => {
  it('loses and doubles nothing a retrying client sent', async () => {
    const sent = Array.from({ length: 120 }, () => freshTransaction())
    const accepted = new Set<string>()
    let retried = 0
    // Four clients in parallel; each retries a failed request on the next gateway still alive.
    const client = async (share: typeof sent) => {
      for (const body of share) {
        for (let attempt = 0; ; attempt++) {
          const url = urls[attempt % 2 === 0 ? 0 : 1] as string
          const response = await call(url, 'POST', '/v1/transactions', key, body).catch(() => undefined)
          if (response?.status === 200) {
            accepted.add(body.txn_id)
            break
          }
          retried++
          if (attempt > 20) throw new Error(`no gateway took ${body.txn_id}`)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }
    }
    const shares = [0, 1, 2, 3].map((n) => sent.filter((_, index) => index % 4 === n))
    const clients = Promise.all(shares.map(client))
    await waitFor(
      'a few accepted',
      async () => accepted.size,
      (size) => size >= 20,
      30_000,
    )
    gateways[0]?.child.kill('SIGKILL')
    await clients
    expect(accepted.size).toBe(sent.length)
    expect(retried).toBeGreaterThan(0)
    const rows = await waitFor(
      'every transaction stored',
      () =>
        query<{ txn_id: string; n: number }>(
          database.url,
          'SELECT txn_id::text, count(*)::int AS n FROM transactions GROUP BY txn_id',
        ),
      (found) => found.length >= sent.length,
    )
    expect(rows.every((row) => row.n === 1)).toBe(true)
    expect(new Set(rows.map((row) => row.txn_id))).toEqual(new Set(sent.map((txn) => txn.txn_id)))
  })
})
