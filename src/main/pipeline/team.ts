import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { threadId } from 'node:worker_threads'
import { CompiledQuery, Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { WORKER_LOCK_TIMEOUT } from '../store/migrations/0025_worker_lock_timeout'
import { listenPostgres, postgresPoolConfig } from '../store/store'
import { CaseJoins } from './case-joins'
import { DecisionPublisher } from './decision-replies'
import { DEFAULT_TIMING, PartitionOwnership, type OwnershipTiming } from './ownership'
import { streamSource, validateLayout, type StreamLayout } from './partitioning'
import { RedisStreams, type DeadLetterRetention, type RedisConnection } from './redis-stream'
import { PipelineStore } from './sink'
import { RedisStreamSource } from './stream-source'
import type { TimeWindow } from './wire'
import { PipelineWorker } from './worker'

/** Everything a Team-mode worker needs; plain data, so it can be handed to a worker thread. */
export interface TeamWorkerConfig {
  postgres: { url: string; password?: string | undefined }
  redis: RedisConnection
  layout: StreamLayout
  workerId?: string
  timing?: OwnershipTiming
  maxBatch?: number
  /** The ts a transaction may carry (default: from 2000-01-01 to a day ahead of the clock). */
  timeWindow?: TimeWindow
  /** How often lists and rules are re-read besides the store's announcements (expiry, a lost LISTEN). */
  rulesPollMs?: number
  /** How often the worker looks for stream keys under the prefix that no worker reads (default 30 s). */
  strayScanMs?: number
  /** How many dead letters the team keeps, and for how long (default: 100,000 and 7 days). */
  deadLetters?: DeadLetterRetention
  /** How often users' states are written (WorkerOptions.stateCheckpointMs; default 10 s). */
  stateCheckpointMs?: number
  /** States a checkpoint's part holds at least (WorkerOptions.checkpointPartUsers). */
  checkpointPartUsers?: number
  /** How often alerts that waited for their case are joined to it (default 5 s). */
  caseJoinMs?: number
}

/** Unique in the group, readable in the status: host, process, thread and a random part. */
export function newWorkerId(): string {
  return `${hostname()}-${process.pid}-${threadId}-${randomBytes(2).toString('hex')}`
}

export interface TeamWorker {
  worker: PipelineWorker
  /** Stops the worker gracefully, then closes its connections. */
  close(): Promise<void>
}

export function createTeamWorker(config: TeamWorkerConfig, log?: (line: string) => void): TeamWorker {
  const layout = validateLayout(config.layout)
  const workerId = config.workerId ?? newWorkerId()
  const poolConfig = postgresPoolConfig({
    connectionString: config.postgres.url,
    password: config.postgres.password,
    max: 4,
    applicationName: `aether-worker ${workerId}`,
  })
  const pool = new pg.Pool(poolConfig)
  // A server that restarts ends every connection, also one held between two statements of a batch: the
  // batch fails and is retried; the process must not die of the connection's error event.
  pool.on('error', () => {})
  pool.on('connect', (client) => client.on('error', () => {}))
  const store = {
    engine: 'postgresql' as const,
    db: new Kysely<unknown>({
      dialect: new PostgresDialect({
        pool,
        // No read or write of the worker waits without limit for a lock another session keeps (0025):
        // it fails, the status and log say a lock holds it up, and it is retried.
        onCreateConnection: async (connection) => {
          await connection.executeQuery(CompiledQuery.raw(`SET lock_timeout = '${WORKER_LOCK_TIMEOUT}'`))
        },
      }),
    }),
  }
  const streams = new RedisStreams(config.redis, layout, workerId, config.deadLetters)
  const ownership = new PartitionOwnership(streams, layout.partitions, config.timing ?? DEFAULT_TIMING)
  const source = new RedisStreamSource(
    streams,
    ownership,
    layout,
    config.strayScanMs !== undefined ? { strayScanMs: config.strayScanMs } : {},
  )
  // Stored decisions go back to the gateway waiting for them (the entry's reply field).
  const replies = new DecisionPublisher(config.redis, log)
  // Alerts stored while an analyst's session held their case locked join it when the lock goes (0022).
  const caseJoins = new CaseJoins(pool, {
    ...(config.caseJoinMs !== undefined ? { everyMs: config.caseJoinMs } : {}),
    ...(log !== undefined ? { log } : {}),
  })
  const worker = new PipelineWorker(source, new PipelineStore(store, streamSource(layout), pool), {
    workerId,
    mode: 'team',
    onStored: replies.onStored,
    alertsWaitingForCase: () => caseJoins.waiting,
    listen: (channels, onNotify, onReconnect) => listenPostgres(poolConfig, channels, onNotify, onReconnect),
    ...(config.maxBatch !== undefined ? { maxBatch: config.maxBatch } : {}),
    ...(config.timeWindow !== undefined ? { timeWindow: config.timeWindow } : {}),
    ...(config.rulesPollMs !== undefined ? { rulesPollMs: config.rulesPollMs } : {}),
    ...(config.stateCheckpointMs !== undefined ? { stateCheckpointMs: config.stateCheckpointMs } : {}),
    ...(config.checkpointPartUsers !== undefined ? { checkpointPartUsers: config.checkpointPartUsers } : {}),
    ...(log !== undefined ? { log } : {}),
  })
  caseJoins.start()
  return {
    worker,
    close: async () => {
      await worker.stop()
      await caseJoins.stop()
      replies.close()
      await store.db.destroy()
    },
  }
}
