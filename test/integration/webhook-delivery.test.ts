import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgresStore, type Store } from '../../src/main/store/store'
import { setWebhook } from '../../src/main/triage/webhook'
import { WebhookPoster } from '../../src/main/triage/webhook-poster'
import { holds } from '../support/conditions'
import { ingestLogin } from '../support/gateway'
import { migratedDatabase, query, waitFor } from '../support/pipeline'
import { createTestDatabase, type TestDatabase } from '../support/services'
import { seedScored } from '../support/triage'

/**
 * The team webhook posted by the headless side: posters as every `aether worker` runs them, connected
 * as the worker group (0024), against a real HTTP receiver. Each block alert is posted once however many
 * posters run, a failing receiver is retried, a poster killed mid-delivery leaves it to another, and a
 * login of the ingest group alone (a gateway's, an analyst's desk) may neither read the URL nor post.
 */

const cleanups: (() => Promise<unknown>)[] = []
let database: TestDatabase
let owner: Store
let worker: Store
let workerUrl: string
let receiver: Server
/** What the receiver took and answered 2xx, and every request it saw. */
const posted: string[] = []
let requests = 0
/** How the receiver answers the next request: 200 unless told otherwise. */
let answer: (request: IncomingMessage, response: ServerResponse, body: string) => void

const ok = (_request: IncomingMessage, response: ServerResponse, body: string) => {
  posted.push((JSON.parse(body) as { text: string }).text)
  response.writeHead(200).end('ok')
}

beforeAll(async () => {
  database = await createTestDatabase('aether_hook')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
  owner = openPostgresStore({ connectionString: database.url })
  cleanups.push(() => owner.close())
  const login = await ingestLogin(database.url, 'worker')
  cleanups.push(() => login.drop())
  workerUrl = login.url
  worker = openPostgresStore({ connectionString: workerUrl })
  cleanups.push(() => worker.close())
  answer = ok
  receiver = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => (body += chunk.toString()))
    request.on('end', () => {
      requests++
      answer(request, response, body)
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise((resolve) => receiver.close(resolve)))
  const { port } = receiver.address() as AddressInfo
  await setWebhook(owner.db, { url: `http://127.0.0.1:${port}/hook` })
}, 60_000)

afterAll(async () => {
  receiver.closeAllConnections()
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

const poster = (holder: string, extra: Partial<ConstructorParameters<typeof WebhookPoster>[0]> = {}) => {
  const started = new WebhookPoster({
    db: worker.db,
    holder,
    pollMs: 50,
    backoffMs: () => 100,
    listen: worker.listen,
    ...extra,
  })
  cleanups.push(() => started.stop())
  return started
}

const deliveries = () =>
  query<{ alert_id: string; attempts: number; sent: boolean; status: number | null }>(
    database.url,
    'SELECT alert_id, attempts, sent_at IS NOT NULL AS sent, status FROM webhook_deliveries ORDER BY alert_id',
  )

describe('the headless team webhook', () => {
  it('posts each block alert exactly once across two posters, and nothing else', async () => {
    const first = poster('worker-a')
    const second = poster('worker-b')
    await Promise.all([first.start(), second.start()])
    const blocks = Array.from({ length: 40 }, (_, i) => ({
      userId: `C-once-${i}`,
      decision: 'block' as const,
      amount: '900.00',
    }))
    // In several commits, as worker batches land, with reviews among them (never posted).
    for (let i = 0; i < blocks.length; i += 10)
      await seedScored(owner, [...blocks.slice(i, i + 10), { userId: 'C-review', decision: 'review' }])
    await waitFor(
      'every block posted',
      async () => posted.length,
      (count) => count >= 40,
      60_000,
    )
    await holds('no post twice', async () => posted.length, 40, 1500)
    const users = posted.map((text) => /from (C-once-\d+),/.exec(text)?.[1])
    expect(new Set(users).size).toBe(40)
    expect(users.every((user) => user !== undefined)).toBe(true)
    const rows = await deliveries()
    expect(rows).toHaveLength(40)
    expect(rows.every((row) => row.sent && row.attempts === 1 && row.status === 200)).toBe(true)
    await Promise.all([first.stop(), second.stop()])
  })

  it('retries a receiver that fails, with backoff, until it takes the post', async () => {
    posted.length = 0
    requests = 0
    let failures = 3
    answer = (request, response, body) => {
      if (failures-- > 0) response.writeHead(503).end('busy')
      else ok(request, response, body)
    }
    const retrying = poster('worker-retry')
    await retrying.start()
    await seedScored(owner, [{ userId: 'C-retry', decision: 'block', amount: '50.00' }])
    await waitFor(
      'the post taken at last',
      async () => posted.length,
      (count) => count === 1,
      30_000,
    )
    expect(requests).toBe(4)
    const [row] = (await deliveries()).slice(-1)
    expect(row).toMatchObject({ attempts: 4, sent: true, status: 200 })
    await retrying.stop()
    answer = ok
  })

  it('delivers through another poster what a poster killed mid-delivery left', async () => {
    posted.length = 0
    requests = 0
    // The receiver holds the first request open: the poster dies while it waits for the answer.
    let held: ServerResponse | undefined
    answer = (request, response, body) => {
      if (held === undefined) held = response
      else ok(request, response, body)
    }
    const doomed: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/support/webhook-poster-process.ts', workerUrl, '2000'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    cleanups.push(async () => doomed.kill('SIGKILL'))
    await new Promise<void>((resolve, reject) => {
      doomed.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve())
      doomed.once('exit', () => reject(new Error('the poster process exited')))
    })
    await seedScored(owner, [{ userId: 'C-orphan', decision: 'block', amount: '70.00' }])
    await waitFor(
      'the doomed poster posting',
      async () => held !== undefined,
      (seen) => seen,
      30_000,
    )
    doomed.kill('SIGKILL')
    await new Promise((resolve) => doomed.once('exit', resolve))
    held?.destroy()
    const rescuer = poster('worker-rescue')
    await rescuer.start()
    await waitFor(
      'another poster delivering it',
      async () => posted.length,
      (count) => count === 1,
      30_000,
    )
    expect(posted[0]).toMatch(/from C-orphan,/)
    const [row] = (await deliveries()).slice(-1)
    expect(row).toMatchObject({ attempts: 2, sent: true, status: 200 })
    await holds('posted once', async () => posted.length, 1, 1000)
    await rescuer.stop()
  })

  it('posts nothing from a login of the ingest group alone, says the GRANT once, and posts once granted', async () => {
    posted.length = 0
    const gateway = await ingestLogin(database.url)
    cleanups.push(() => gateway.drop())
    const store = openPostgresStore({ connectionString: gateway.url })
    cleanups.push(() => store.close())
    const said: string[] = []
    const refused = poster('gateway-login', {
      db: store.db,
      listen: store.listen,
      refusedPollMs: 300,
      log: (line) => said.push(line),
    })
    await refused.start()
    await seedScored(owner, [{ userId: 'C-refused', decision: 'block', amount: '80.00' }])
    await holds('nothing posted by a login outside the worker group', async () => posted.length, 0, 1500)
    expect(said).toHaveLength(1)
    const login = new URL(gateway.url).username
    expect(said[0]).toMatch(/this worker posts nothing, its login may not \(permission denied/)
    expect(said[0]).toContain(`GRANT aether_`)
    expect(said[0]).toMatch(new RegExp(`_worker TO ${login}$`))
    const [row] = (await deliveries()).slice(-1)
    expect(row).toMatchObject({ attempts: 0, sent: false })
    // /metrics: this worker may not post; what waits, as any worker of the group reads it.
    const seen = async (from: WebhookPoster) => {
      const registry = new Registry()
      from.registerMetrics(registry)
      return registry.metrics()
    }
    const refusedSees = await seen(refused)
    expect(refusedSees).toMatch(/^aether_webhook_refused 1$/m)
    // It may not read the deliveries either: not known, never a 0 that would say nothing waits.
    expect(refusedSees).toMatch(/^aether_webhook_waiting nan$/im)
    const waiting = await seen(new WebhookPoster({ db: worker.db, holder: 'metrics-only' }))
    expect(waiting).toMatch(/^aether_webhook_waiting 1$/m)
    expect(waiting).toMatch(/^aether_webhook_given_up 0$/m)
    expect(Number(/^aether_webhook_oldest_waiting_seconds (\S+)$/m.exec(waiting)?.[1])).toBeGreaterThan(0)
    await query(gateway.url, `SELECT value FROM triage_settings`).then(
      () => expect.fail('a login of the ingest group read the webhook URL'),
      (error: unknown) => expect((error as { code?: string }).code).toBe('42501'),
    )
    await query(
      database.url,
      `DO $$ BEGIN EXECUTE format('GRANT %I TO ${login}', aether_team_role('worker')); END $$`,
    )
    await waitFor(
      'the post once the login is granted the worker group',
      async () => posted.length,
      (count) => count === 1,
      30_000,
    )
    expect(posted[0]).toMatch(/from C-refused,/)
    expect(said.at(-1)).toBe('team webhook: this login may post it now')
    expect(await seen(refused)).toMatch(/^aether_webhook_refused 0$/m)
    expect(await seen(refused)).toMatch(/^aether_webhook_waiting 0$/m)
    await refused.stop()
  })

  it('never writes the URL into a delivery’s error, which every analyst reads', async () => {
    const secret = 'T000/B000/not-a-parseable-url-secret'
    await query(database.url, `UPDATE triage_settings SET value = $1 WHERE key = 'webhook_url'`, [
      `http://hooks example.com/services/${secret}`,
    ])
    const failing = poster('worker-bad-url', { maxAttempts: 1 })
    await failing.start()
    await seedScored(owner, [{ userId: 'C-bad-url', decision: 'block', amount: '60.00' }])
    const [row] = await waitFor(
      'the delivery given up',
      () =>
        query<{ error: string | null }>(
          database.url,
          `SELECT d.error FROM webhook_deliveries d JOIN alerts a ON a.id = d.alert_id
            WHERE a.user_id = 'C-bad-url' AND d.error IS NOT NULL`,
        ),
      (rows) => rows.length === 1,
      30_000,
    )
    expect(row?.error).toContain('<the team webhook URL>')
    expect(row?.error).not.toContain(secret)
    await failing.stop()
  })
})
