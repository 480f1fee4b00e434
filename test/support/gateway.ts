import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { startGateway, type GatewayConfig, type RunningGateway } from '../../src/main/gateway/start'
import type { StreamLayout } from '../../src/main/pipeline/partitioning'
import { ApiKeyAdmin, type ApiKeyScope } from '../../src/main/security/api-keys'
import { openPostgresStore } from '../../src/main/store/store'
import type { Transaction } from '../../src/shared/transaction'
import { query } from './pipeline'
import { SHARED_POSTGRES_URL, SHARED_REDIS_URL, uniqueName } from './services'

/**
 * Decision API tests: the gateway in this process or as `aether gateway` processes, connected as a
 * login of the test database's ingest group (as a team runs it), and API keys made by the owner.
 */

/**
 * A login in the database's ingest group (a gateway's), or in its worker group (an `aether worker`'s,
 * which also posts the team webhook); dropped by the returned function.
 */
export async function ingestLogin(
  databaseUrl: string,
  group: 'ingest' | 'worker' = 'ingest',
): Promise<{ url: string; drop(): Promise<void> }> {
  const login = uniqueName(group === 'ingest' ? 'aether_gw' : 'aether_wk')
  await query(SHARED_POSTGRES_URL, `CREATE ROLE ${login} LOGIN`)
  await query(
    databaseUrl,
    `DO $$ BEGIN EXECUTE format('GRANT %I TO ${login}', aether_team_role('${group}')); END $$`,
  )
  const url = new URL(databaseUrl)
  url.username = login
  return {
    url: url.toString(),
    drop: () => query(SHARED_POSTGRES_URL, `DROP ROLE IF EXISTS ${login}`).then(() => undefined),
  }
}

/** A new API key, made as the database's owner (an admin). */
export async function createApiKey(
  databaseUrl: string,
  name: string,
  scopes: ApiKeyScope[] = ['submit', 'read'],
): Promise<string> {
  const store = openPostgresStore({ connectionString: databaseUrl, max: 1 })
  try {
    return (await new ApiKeyAdmin(store.db).add(name, scopes)).key
  } finally {
    await store.close()
  }
}

export async function revokeApiKey(databaseUrl: string, name: string): Promise<void> {
  const store = openPostgresStore({ connectionString: databaseUrl, max: 1 })
  try {
    await new ApiKeyAdmin(store.db).revoke(name)
  } finally {
    await store.close()
  }
}

export type TestGatewayOptions = Partial<GatewayConfig> & {
  postgresUrl: string
  redisUrl: string
  layout: StreamLayout
}

export function startTestGateway(options: TestGatewayOptions): Promise<RunningGateway> {
  const { postgresUrl, redisUrl, ...rest } = options
  return startGateway({
    postgres: { url: postgresUrl },
    redis: { url: redisUrl },
    host: '127.0.0.1',
    port: 0,
    budgetMs: 2000,
    rateLimit: { max: 100_000, windowMs: 1000 },
    maxBacklog: 1_000_000,
    version: 'test',
    ...rest,
  })
}

export interface GatewayProcess {
  child: ChildProcess
  url: Promise<string>
  output(): string
  stop(): Promise<void>
}

/**
 * The arguments of an `aether gateway` of a test: its database login, the shared Redis, the test's
 * layout and a budget (short when no worker runs: every decision provisional, soon).
 */
export function gatewayArgs(options: {
  postgresUrl: string
  layout: StreamLayout
  budgetMs: number
}): string[] {
  return [
    ...['--postgres-url', options.postgresUrl, '--redis-url', SHARED_REDIS_URL],
    ...['--prefix', options.layout.prefix, '--partitions', String(options.layout.partitions)],
    ...['--budget-ms', String(options.budgetMs)],
  ]
}

/** The Node arguments that run `aether gateway <args>` from source, on a free port. */
export const gatewayCommand = (args: string[]) => [
  '--import',
  'tsx',
  'test/support/aether-cli.ts',
  'gateway',
  '--port',
  '0',
  ...args,
]

/** `aether gateway` as a real process, from source; `url` resolves once it listens. */
export function spawnGateway(args: string[]): GatewayProcess {
  const child = spawn(process.execPath, gatewayCommand(args), { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /Decision API at (\S+) /.exec(output)
      if (match !== null) resolve(match[1] as string)
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    void exited.then(() => reject(new Error(`aether gateway exited: ${output}`)))
  })
  url.catch(() => {})
  return {
    child,
    url,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

export interface ApiResponse<T = Record<string, unknown>> {
  status: number
  headers: Headers
  body: T
}

/** One request to the gateway, the key as a bearer token. */
export async function call<T = Record<string, unknown>>(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  key?: string,
  body?: unknown,
): Promise<ApiResponse<T>> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(key !== undefined ? { authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // not JSON (metrics): kept as text
  }
  return { status: response.status, headers: response.headers, body: parsed as T }
}

/** A valid transaction of a fresh user, dated now (inside the workers' time window). */
export function freshTransaction(extra: Partial<Transaction> = {}): Transaction {
  return {
    txn_id: randomUUID(),
    ts: new Date().toISOString(),
    user_id: `U-${randomUUID().slice(0, 8)}`,
    counterparty_id: 'M-1',
    type: 'PAYMENT',
    amount: '25.00',
    currency: 'USD',
    ...extra,
  }
}

export interface FeedEvent {
  id: number
  txn_id: string
  decision: string
}

/** Reads the decisions feed until `count` events came (or `timeoutMs` passed), then disconnects. */
export async function readFeed(
  base: string,
  key: string,
  count: number,
  resume: { lastEventId?: number; after?: number } = {},
  timeoutMs = 20_000,
): Promise<FeedEvent[]> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  const events: FeedEvent[] = []
  try {
    const response = await fetch(
      `${base}/v1/decisions${resume.after !== undefined ? `?after=${resume.after}` : ''}`,
      {
        headers: {
          authorization: `Bearer ${key}`,
          ...(resume.lastEventId !== undefined ? { 'last-event-id': String(resume.lastEventId) } : {}),
        },
        signal: controller.signal,
      },
    )
    if (response.status !== 200 || response.body === null)
      throw new Error(`the feed answered ${response.status}: ${await response.text()}`)
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true })
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = /^data: (.*)$/m.exec(block)?.[1]
        const id = /^id: (\d+)$/m.exec(block)?.[1]
        if (data !== undefined && id !== undefined) {
          events.push({ ...(JSON.parse(data) as FeedEvent), id: Number(id) })
          if (events.length >= count) return events
        }
      }
    }
    return events
  } catch (error) {
    if (controller.signal.aborted) return events
    throw error
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
}
