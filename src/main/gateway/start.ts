import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyInstance } from 'fastify'
import { sql, type Kysely } from 'kysely'
import type { Logger } from '../ops/log'
import { serveMetrics, type MetricsServer } from '../ops/metrics'
import { DecisionFeed } from '../pipeline/decision-feed'
import { ReplyListener, replyChannel } from '../pipeline/decision-replies'
import { DecisionService } from '../pipeline/decision-service'
import { streamSource, validateLayout, type StreamLayout } from '../pipeline/partitioning'
import { connectRedis, RedisStreams } from '../pipeline/redis-stream'
import { RulesSource } from '../pipeline/rules-source'
import { watchScoringChanges } from '../pipeline/scoring-changes'
import { PipelineStore } from '../pipeline/sink'
import type { TimeWindow } from '../pipeline/wire'
import { ApiKeyVerifier } from '../security/api-keys'
import { openPostgresStore } from '../store/store'
import { buildGatewayApp, type GatewayLimits } from './app'
import { GatewayMetrics } from './metrics'
import { GatewayActivity, GatewayPublisher } from './registry'

/** Composes a gateway from its configuration: the store, Redis, the reply channel, keys and the app. */

export interface GatewayConfig {
  postgres: { url: string; password?: string | undefined }
  redis: { url: string }
  layout: StreamLayout
  host: string
  port: number
  budgetMs: number
  /** Requests per API key per window, over every gateway. */
  rateLimit: { max: number; windowMs: number }
  /** Entries waiting on the streams beyond which new transactions get 503. */
  maxBacklog: number
  /** Prometheus /metrics on 127.0.0.1, on a port of its own (undefined: not served; never on the API port). */
  metricsPort?: number | undefined
  tls?: { cert: Buffer; key: Buffer } | undefined
  /** See GatewayDeps.trustProxy. */
  trustProxy?: readonly string[]
  limits?: GatewayLimits
  timeWindow?: TimeWindow
  /** How long a key check is cached: the bound on how long a revoked key still works. */
  keyCacheMs?: number
  /** How often the streams' backlog is measured. */
  backlogEveryMs?: number
  /**
   * How long a request waits on one PostgreSQL statement or one Redis command before it gets 503 (a
   * server that hangs, or a lock held by a migration, no longer holds requests and their sockets).
   */
  serviceTimeoutMs?: number
  version: string
  log?: (line: string) => void
  /** Structured logs of the requests (ops/log createLogger), each line with its request id. */
  logger?: Logger
}

export interface RunningGateway {
  url: string
  metricsUrl?: string
  app: FastifyInstance
  /** Stops taking requests, answers every request in flight, then closes its connections. */
  close(): Promise<void>
}

/** Far beyond a healthy statement or command (milliseconds), well inside a client's patience. */
export const DEFAULT_SERVICE_TIMEOUT_MS = 5000

export async function startGateway(config: GatewayConfig): Promise<RunningGateway> {
  const layout = validateLayout(config.layout)
  const timeoutMs = config.serviceTimeoutMs ?? DEFAULT_SERVICE_TIMEOUT_MS
  const gatewayId = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
  const store = openPostgresStore({
    connectionString: config.postgres.url,
    password: config.postgres.password,
    max: 8,
    applicationName: `aether-gateway ${gatewayId}`,
    statementTimeoutMs: timeoutMs,
  })
  const db = store.db as unknown as Kysely<unknown>
  const pipelineStore = new PipelineStore({ engine: 'postgresql', db }, streamSource(layout))
  const rules = new RulesSource(pipelineStore)
  const scoringChanges = watchScoringChanges(store.listen, () => rules.invalidate(), config.log)
  // Auto-pipelined: the commands of all the requests of one turn of the event loop (their rate limit
  // counts, their claims and XADDs) leave in one socket write, not one write each: the writes of single
  // commands were a sixth of the gateway's CPU at 2,000 req/s (bench:gateway --cpu-prof).
  const redis = connectRedis(config.redis, {
    name: `aether-gateway-${gatewayId}`,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: true,
    commandTimeout: timeoutMs,
  })
  const rateRedis = connectRedis(config.redis, {
    name: `aether-gateway-limits-${gatewayId}`,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: true,
    commandTimeout: timeoutMs,
  })
  const replies = new ReplyListener(config.redis, replyChannel(layout, gatewayId))
  // The stream layer's view: the layout check, the groups, the partitions' backlog and owners.
  const streams = new RedisStreams(config.redis, layout, `gateway-${gatewayId}`)
  // Keys are checked on connections of their own: a request never waits for one behind the slow
  // paths' reads (provisional decisions, duplicates, lookups) in the main pool.
  const keyStore = openPostgresStore({
    connectionString: config.postgres.url,
    password: config.postgres.password,
    max: 2,
    applicationName: `aether-gateway-keys ${gatewayId}`,
    statementTimeoutMs: timeoutMs,
  })
  const keys = new ApiKeyVerifier(keyStore.db as unknown as Kysely<unknown>, config.keyCacheMs ?? 500)
  const metrics = new GatewayMetrics(config.budgetMs)
  const activity = new GatewayActivity()
  const feed = new DecisionFeed(db)
  const service = new DecisionService({
    redis,
    streams,
    layout,
    db,
    pipelineStore,
    rules,
    replies,
    budgetMs: config.budgetMs,
    ...(config.timeWindow !== undefined ? { timeWindow: config.timeWindow } : {}),
  })
  const cleanups: (() => Promise<unknown> | unknown)[] = [
    () => scoringChanges.stop(),
    () => keys.stop(),
    () => feed.stop(),
    () => replies.stop(),
    () => redis.disconnect(),
    () => streams.close(),
    () => rateRedis.disconnect(),
    () => store.close(),
    () => keyStore.close(),
  ]
  const cleanUp = async () => {
    for (const cleanup of cleanups) await Promise.resolve(cleanup()).catch(() => {})
  }

  try {
    // A worker takes only partitions whose stream exists; a fresh deployment has none until its first
    // transaction, and would never be ready. As every producer: the partition count recorded (a gateway
    // started with another count refuses to run) and each stream made with the workers' group.
    await streams.prepareForProducing()
    await replies.start()
    await keys.start(keyStore.listen)
    await feed.start(store.listen)
  } catch (error) {
    await cleanUp()
    throw error
  }

  // The backlog is measured in the background: a request only reads the last measure.
  let overloaded = false
  let measuring = false
  const measure = async () => {
    if (measuring) return
    measuring = true
    try {
      const backlog = await service.backlog()
      metrics.backlog.set(backlog)
      overloaded = backlog > config.maxBacklog
    } catch {
      // Redis is down: submissions fail on their own with 503.
    } finally {
      measuring = false
    }
  }
  await measure()
  const backlogTimer = setInterval(() => void measure(), config.backlogEveryMs ?? 250)
  backlogTimer.unref()

  // A certificate Node refuses fails here: the connections opened above are closed, not left to hang.
  const app = await buildGatewayApp({
    service,
    feed,
    keys,
    metrics,
    activity,
    overloaded: () => overloaded,
    ready: async () => {
      const [storeOk, redisOk, partitions] = await Promise.all([
        sql`SELECT 1`.execute(db).then(
          () => true,
          () => false,
        ),
        redis.ping().then(
          (pong) => pong === 'PONG',
          () => false,
        ),
        service.ownedPartitions().catch(() => ({ owned: 0, total: layout.partitions })),
      ])
      return { store: storeOk, redis: redisOk, partitions }
    },
    rateLimit: {
      redis: rateRedis,
      max: config.rateLimit.max,
      windowMs: config.rateLimit.windowMs,
      nameSpace: `${layout.prefix}gw:rate:`,
    },
    ...(config.limits !== undefined ? { limits: config.limits } : {}),
    ...(config.tls !== undefined ? { tls: config.tls } : {}),
    ...(config.trustProxy !== undefined ? { trustProxy: config.trustProxy } : {}),
    version: config.version,
    ...(config.log !== undefined ? { log: config.log } : {}),
    ...(config.logger !== undefined ? { logger: config.logger } : {}),
  }).catch(async (error: unknown) => {
    clearInterval(backlogTimer)
    await cleanUp()
    throw error
  })
  let metricsServer: MetricsServer | undefined
  try {
    await app.listen({ host: config.host, port: config.port })
    if (config.metricsPort !== undefined)
      metricsServer = await serveMetrics(config.metricsPort, metrics.registry)
  } catch (error) {
    clearInterval(backlogTimer)
    await app.close().catch(() => {})
    await cleanUp()
    throw error
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  const url = `${config.tls !== undefined ? 'https' : 'http'}://${host}:${port}`
  // This gateway in the team's registry (the Dashboard's panel); a failed refresh only logs.
  const publisher = new GatewayPublisher(redis, layout.prefix, gatewayId, url, activity, config.log)
  await publisher.start()
  return {
    url,
    ...(metricsServer !== undefined ? { metricsUrl: `http://127.0.0.1:${metricsServer.port}/metrics` } : {}),
    app,
    close: async () => {
      clearInterval(backlogTimer)
      await publisher.stop()
      // Fastify's close waits for the requests in flight; they still need Redis and the store.
      await app.close()
      await metricsServer?.close()
      await cleanUp()
    },
  }
}
