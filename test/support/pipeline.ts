import { spawn, type ChildProcess } from 'node:child_process'
import { Redis, type ChainableCommander } from 'ioredis'
import { CompiledQuery } from 'kysely'
import pg from 'pg'
import {
  CONSUMER_GROUP,
  partitionOf,
  partitionStream,
  type StreamLayout,
} from '../../src/main/pipeline/partitioning'
import { replay } from '../../src/main/pipeline/producer'
import { RedisStreams } from '../../src/main/pipeline/redis-stream'
import { STATES_BEHIND } from '../../src/main/pipeline/sink'
import { encodeTransaction } from '../../src/main/pipeline/wire'
import { createTeamWorker, type TeamWorker, type TeamWorkerConfig } from '../../src/main/pipeline/team'
import {
  createListMatcher,
  emptyUserState,
  scoreTransaction,
  unpackUserState,
  type UserState,
} from '../../src/main/scoring'
import { GENERATOR_BLOCKLIST, generateTransactions } from '../../src/main/scoring/generator'
import { migrateToLatest } from '../../src/main/store/migrate'
import { openPostgresStore, postgresUrlWithPassword } from '../../src/main/store/store'
import { DEFAULT_RULES } from '../../src/shared/rules'
import type { Score, Transaction } from '../../src/shared/transaction'
import { SHARED_REDIS_URL, uniqueName } from './services'

/**
 * Pipeline tests: their own key prefix on Redis (deleted afterwards), their own database, generated
 * traffic, and the expected result computed by the scoring core alone, as one worker scoring each user's
 * transactions in order would.
 */

/** Fast ownership for tests: a crashed worker's partitions are taken over after 2 s. */
export const TEST_TIMING = { leaseMs: 2000, heartbeatMs: 300 }

export const testLayout = (partitions = 8): StreamLayout => ({
  prefix: `${uniqueName('aether_it')}:`,
  partitions,
})

export async function migratedDatabase(url: string, password?: string): Promise<void> {
  const store = openPostgresStore({ connectionString: url, password })
  try {
    await migrateToLatest(store)
    // The generator's blocklisted_ip pattern comes from these networks, as a team would list them.
    for (const entry of GENERATOR_BLOCKLIST)
      await store.db.executeQuery(
        CompiledQuery.raw(
          `INSERT INTO lists (kind, value, network, reason) VALUES ($1, $2, $3::cidr, 'test')`,
          [entry.kind, entry.value, entry.value],
        ),
      )
  } finally {
    await store.close()
  }
}

export function generated(count: number, seed: number): Transaction[] {
  return generateTransactions({ seed }, count).map(({ txn }) => txn)
}

export interface Expected {
  scores: Map<string, Score>
  states: Map<string, UserState>
}

/** What one worker scoring every user's transactions in stream order gives. */
export function expectedScoring(txns: readonly Transaction[]): Expected {
  const lists = createListMatcher(GENERATOR_BLOCKLIST)
  const states = new Map<string, UserState>()
  const scores = new Map<string, Score>()
  for (const txn of txns) {
    const result = scoreTransaction(txn, states.get(txn.user_id) ?? emptyUserState(), DEFAULT_RULES, lists)
    states.set(txn.user_id, result.state)
    scores.set(txn.txn_id, result.score)
  }
  // As the store gives them back: through JSON.
  return {
    scores,
    states: new Map([...states].map(([user, state]) => [user, JSON.parse(JSON.stringify(state))])),
  }
}

export async function produce(
  redisUrl: string,
  layout: StreamLayout,
  txns: readonly Transaction[],
  tps?: number,
) {
  return replay({ redis: { url: redisUrl }, layout, rows: txns.map((txn) => ({ txn })), tps })
}

/**
 * Each transaction as one XADD on its user's partition, or on `partition` (a producer that routes it
 * wrongly), all in one pipeline, in order: for entries a test shapes itself (retries, other versions).
 */
export async function xaddTransactions(
  redis: Redis,
  layout: StreamLayout,
  txns: readonly Transaction[],
  partition?: number,
): Promise<void> {
  await queueTransactions(redis.pipeline(), layout, txns, partition).exec()
}

/** The same XADDs queued on `commands` (a pipeline, or a MULTI that does more beside them), not sent. */
export function queueTransactions<C extends ChainableCommander>(
  commands: C,
  layout: StreamLayout,
  txns: readonly Transaction[],
  partition?: number,
): C {
  for (const txn of txns)
    commands.xadd(
      partitionStream(layout, partition ?? partitionOf(txn.user_id, layout.partitions)),
      '*',
      ...encodeTransaction(txn),
    )
  return commands
}

/**
 * A connection to the shared Redis for a test's own layout: `cleanups` disconnects it and deletes the
 * layout's keys.
 */
export function sharedRedisFor(layout: StreamLayout, cleanups: (() => Promise<unknown>)[]): Redis {
  const redis = new Redis(SHARED_REDIS_URL)
  cleanups.push(
    async () => redis.disconnect(),
    () => deleteKeys(SHARED_REDIS_URL, layout.prefix),
  )
  return redis
}

/**
 * A layout of its own on the shared Redis whose streams and workers' group exist, as once a producer has
 * written, and a connection to it (sharedRedisFor: `cleanups` drops the layout's keys).
 */
export async function preparedLayout(
  cleanups: (() => Promise<unknown>)[],
  partitions = 8,
): Promise<{ layout: StreamLayout; redis: Redis }> {
  const layout = testLayout(partitions)
  const redis = sharedRedisFor(layout, cleanups)
  const producer = new RedisStreams({ url: SHARED_REDIS_URL }, layout, 'producer')
  await producer.prepareForProducing()
  await producer.close()
  return { layout, redis }
}

export async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true })
  await redis.connect()
  try {
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      keys.push(...found)
    } while (cursor !== '0')
    if (keys.length > 0) await redis.del(...keys)
  } finally {
    redis.disconnect()
  }
}

/** Entries delivered but not acknowledged, over every partition. */
export async function pendingEntries(redisUrl: string, layout: StreamLayout): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
  redis.on('error', () => {})
  await redis.connect()
  try {
    let pending = 0
    for (let p = 0; p < layout.partitions; p++) {
      const summary = (await redis.xpending(partitionStream(layout, p), CONSUMER_GROUP)) as [
        number,
        ...unknown[],
      ]
      pending += Number(summary[0])
    }
    return pending
  } finally {
    redis.disconnect()
  }
}

export async function query<R>(
  url: string,
  text: string,
  params: unknown[] = [],
  password?: string,
): Promise<R[]> {
  const client = new pg.Client({ connectionString: postgresUrlWithPassword(url, password) })
  // A server restarting under the probe ends its connection: that is the query's failure, not the process's.
  client.on('error', () => {})
  await client.connect()
  try {
    return (await client.query(text, params)).rows as R[]
  } finally {
    await client.end()
  }
}

export async function storedCount(url: string, password?: string): Promise<number> {
  const [row] = await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM transactions', [], password)
  return row?.n ?? 0
}

/**
 * Runs `work` while a session of the URL's login holds `table` in ACCESS EXCLUSIVE mode in an open
 * transaction (as a `BEGIN; LOCK TABLE …` left open in psql): whatever reads or writes it waits.
 */
export async function withTableLocked<T>(url: string, table: string, work: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => {})
  await client.connect()
  try {
    await client.query('BEGIN')
    await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`)
    return await work()
  } finally {
    await client.query('ROLLBACK').catch(() => {})
    await client.end()
  }
}

/** How many of these transactions are stored. */
export async function storedOf(url: string, txns: readonly Transaction[]): Promise<number> {
  const [row] = await query<{ n: number }>(
    url,
    'SELECT count(*)::int AS n FROM transactions WHERE txn_id = ANY($1::uuid[])',
    [txns.map((txn) => txn.txn_id)],
  )
  return row?.n ?? 0
}

export interface StoredScoring {
  scores: Map<string, Score>
  states: Map<string, UserState>
  alerts: number
}

/**
 * Partitions whose users' stored states do not yet count every stored transaction: a Team worker writes
 * them at checkpoints (0017), at the latest when the stream goes quiet.
 */
export async function statesBehind(url: string, password?: string): Promise<number> {
  const [row] = await query<{ n: number }>(url, STATES_BEHIND, [], password)
  return row?.n ?? 0
}

/** The stored scores, alerts and users' states, once the states count every stored transaction. */
export async function storedScoring(url: string, password?: string): Promise<StoredScoring> {
  await waitFor(
    "the users' states written (a checkpoint)",
    () => statesBehind(url, password),
    (n) => n === 0,
  )
  const scores = await query<Score & { txn_id: string }>(
    url,
    'SELECT txn_id::text, score, decision, reasons, model_version, rules_version FROM scores',
    [],
    password,
  )
  const states = await query<{ user_id: string; state: unknown }>(
    url,
    'SELECT user_id, state FROM user_features',
    [],
    password,
  )
  const [alerts] = await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM alerts', [], password)
  return {
    scores: new Map(scores.map(({ txn_id, ...score }) => [txn_id, score])),
    // As the worker reads them back: the stored form is state-codec.ts's.
    states: new Map(states.map((row) => [row.user_id, unpackUserState(row.state)])),
    alerts: alerts?.n ?? 0,
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T | undefined
  for (;;) {
    try {
      last = await probe()
      if (done(last)) return last
    } catch {
      // a service may be restarting: probe again
    }
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** Workers in this process, each with its own connections, as separate processes would have. */
export function startWorker(config: Omit<TeamWorkerConfig, 'timing'>): TeamWorker {
  const team = createTeamWorker({ ...config, timing: TEST_TIMING })
  team.worker.start()
  return team
}

export interface WorkerProcess {
  child: ChildProcess
  output(): string
  exited: Promise<number | null>
}

/** `aether worker` as a real process, from source. */
export function spawnWorker(args: string[], env: NodeJS.ProcessEnv = {}): WorkerProcess {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'test/support/aether-cli.ts',
      'worker',
      '--metrics-port',
      '0',
      '--lease-ms',
      '2000',
      ...args,
    ],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, output: () => output, exited }
}
