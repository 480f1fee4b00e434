import fastifyRateLimit from '@fastify/rate-limit'
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Redis } from 'ioredis'
import { addSecret, type Logger } from '../ops/log'
import { followFeed, type DecisionFeed } from '../pipeline/decision-feed'
import type { DecisionService } from '../pipeline/decision-service'
import { RowRejectedError } from '../pipeline/sink'
import type { ApiKeyIdentity, ApiKeyScope } from '../security/api-keys'
import { addressKey, AuthFailures } from './auth-failures'
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-body'
import type { GatewayMetrics } from './metrics'
import type { GatewayActivity } from './registry'
import { BatchRequest, openApiDocument } from './schemas'

/**
 * The Decision API's HTTP surface: routes, authentication, limits. What a route does is the
 * DecisionService's (pipeline/decision-service.ts); the handlers only translate between it and HTTP.
 */

declare module 'fastify' {
  interface FastifyRequest {
    apiKey?: ApiKeyIdentity
    startedAt: number
    /** What the request did, for its line in the log (the transaction, the decision, a batch's counts). */
    audit?: Record<string, unknown>
  }
  interface FastifyContextConfig {
    /** The scope a key needs for this route; routes without one are open (health, openapi). */
    scope?: ApiKeyScope
  }
}

export interface GatewayLimits {
  /** Bytes of a single transaction's body. */
  bodyBytes: number
  /** Bytes of a batch's body. */
  batchBodyBytes: number
  /** Bytes of all request headers together. */
  headerBytes: number
  /** Time to receive the headers, then the whole request. */
  headersTimeoutMs: number
  requestTimeoutMs: number
  /** Failed authentications an address may make in a window before keys the gateway does not know get 429. */
  authFailures: { max: number; windowMs: number }
}

export const DEFAULT_LIMITS: GatewayLimits = {
  bodyBytes: 16 * 1024,
  batchBodyBytes: 2 * 1024 * 1024,
  headerBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  authFailures: { max: 20, windowMs: 60_000 },
}

export interface GatewayDeps {
  service: DecisionService
  feed: Pick<DecisionFeed, 'finalId' | 'subscribe' | 'read'>
  keys: {
    verify(presented: string): Promise<ApiKeyIdentity | undefined>
    /** Whether the key names a key already held, so checking it costs no store read. */
    known(presented: string): boolean
  }
  metrics: GatewayMetrics
  /** This gateway's figures for the team's registry (registry.ts). */
  activity?: GatewayActivity
  /** Whether the store and Redis answer, and how many partitions a worker owns. */
  ready(): Promise<{ store: boolean; redis: boolean; partitions: { owned: number; total: number } }>
  /** The streams' backlog is past its bound: refuse new transactions for now. */
  overloaded(): boolean
  rateLimit: { redis: Redis; max: number; windowMs: number; nameSpace: string }
  limits?: GatewayLimits
  tls?: { cert: Buffer; key: Buffer }
  /**
   * Addresses and CIDRs of the reverse proxies in front of the gateway: a request's address (the budget
   * of invalid keys per address) is then the client's, from their X-Forwarded-For. Without it the header
   * is ignored: a client could name any address in it.
   */
  trustProxy?: readonly string[]
  version: string
  log?: (line: string) => void
  /** Fastify's logger: each request's lines carry its id (`reqId`). */
  logger?: Logger
}

const RETRY_AFTER_S = '1'

/** A key from `Authorization: Bearer <key>` (or `X-API-Key`). */
function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    return match?.[1]
  }
  const alternative = request.headers['x-api-key']
  return typeof alternative === 'string' ? alternative : undefined
}

const unavailable = (reply: FastifyReply, error: string) =>
  reply.code(503).header('retry-after', RETRY_AFTER_S).send({ error })

export async function buildGatewayApp(deps: GatewayDeps): Promise<FastifyInstance> {
  const limits = deps.limits ?? DEFAULT_LIMITS
  const serverOptions = {
    maxHeaderSize: limits.headerBytes,
    headersTimeout: limits.headersTimeoutMs,
  }
  const app = Fastify({
    ...(deps.logger !== undefined ? { loggerInstance: deps.logger } : { logger: false }),
    // A line per request would cost the gateway more than the request at thousands per second.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.bodyBytes,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: 5000,
    // A closing gateway answers what is in flight, and 503 to anything new on a kept-alive connection.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 100 },
    ...(deps.trustProxy !== undefined && deps.trustProxy.length > 0
      ? { trustProxy: [...deps.trustProxy] }
      : {}),
    ...(deps.tls !== undefined
      ? { https: { ...serverOptions, cert: deps.tls.cert, key: deps.tls.key } }
      : { http: serverOptions }),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance

  // Fastify's own JSON parsing (prototype poisoning refused), after a linear check of the nesting: a body
  // nested a million deep no longer holds the thread for JSON.parse.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (nestsDeeperThan(body as string, MAX_JSON_DEPTH)) {
      const error = new Error(`The body nests arrays and objects more than ${MAX_JSON_DEPTH} deep`)
      ;(error as Error & { statusCode: number }).statusCode = 400
      return done(error, undefined)
    }
    parseJson(request, body as string, done)
  })

  const failures = new AuthFailures(limits.authFailures.max, limits.authFailures.windowMs)
  app.addHook('onRequest', async (request, reply) => {
    request.startedAt = performance.now()
    const scope = request.routeOptions.config.scope
    if (scope === undefined) return
    const presented = presentedKey(request)
    if (presented === undefined)
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'An API key is required: Authorization: Bearer <key>' })
    // An address past its budget of failed keys: what is not already known is refused without a read.
    // A key not known costs a store read: counted before the read, taken back if the key is valid.
    const address = addressKey(request.ip)
    const known = deps.keys.known(presented)
    const warnReached = () =>
      request.log.warn(
        { address, failures: failures.max, window_s: failures.windowMs / 1000 },
        'an address reached its budget of invalid API keys: keys the gateway does not know are refused (429) until its window ends',
      )
    if (!known) {
      const blockedMs = failures.blockedFor(address)
      if (blockedMs > 0) {
        deps.metrics.refused.inc({ reason: 'auth_failures' })
        const seconds = Math.ceil(blockedMs / 1000)
        return reply
          .code(429)
          .header('retry-after', String(seconds))
          .send({
            error: `Too many requests with invalid API keys from this address: keys this gateway does not know are refused for ${seconds} s`,
          })
      }
      if (failures.fail(address)) warnReached()
    }
    let key: ApiKeyIdentity | undefined
    try {
      key = await deps.keys.verify(presented)
    } catch (error) {
      if (!known) failures.succeeded(address)
      deps.log?.(`could not check an API key: ${String(error)}`)
      return unavailable(reply, 'The key store is unavailable; try again')
    }
    if (key === undefined) {
      // A known key id with a wrong secret counts too (an unknown one was counted before the read).
      if (known && failures.fail(address)) warnReached()
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer error="invalid_token"')
        .send({ error: 'This API key is not valid (unknown, revoked or mistyped)' })
    }
    if (!known) failures.succeeded(address)
    request.apiKey = key
    // A valid key is a secret of this process from now on: never written to a log line.
    addSecret(presented)
    if (!key.scopes.has(scope))
      return reply.code(403).send({ error: `This API key lacks the "${scope}" scope` })
  })

  // Closing: the answers in flight end their connections, so no kept-alive socket holds the close up.
  let closing = false
  const streams = new Set<() => void>()
  app.addHook('preClose', async () => {
    closing = true
    // Event streams never end by themselves: a client reconnects with Last-Event-ID elsewhere.
    for (const end of [...streams]) end()
  })
  // The hooks every request runs are callbacks, not async functions: no promise per hook per request.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    const ms = performance.now() - request.startedAt
    deps.metrics.requests.inc({ route, status: String(reply.statusCode), key: request.apiKey?.name ?? '-' })
    deps.metrics.requestSeconds.observe({ route }, ms / 1000)
    deps.activity?.request(request.routeOptions.url, reply.statusCode, request.apiKey?.name)
    // The audit of what each key did: one info line per API request (the event feed logs its own opening
    // and end), with the key's name and id (never the key), the route, the status and what it did. Not
    // rows in the store: a read would cost a write. Probes and strays (no /v1 route) are not logged.
    if (route.startsWith('/v1/') && request.audit?.feed === undefined)
      request.log.info(
        {
          route,
          method: request.method,
          status: reply.statusCode,
          key: request.apiKey?.name ?? null,
          key_id: request.apiKey?.id ?? null,
          ms: Math.round(ms * 10) / 10,
          ...request.audit,
        },
        'api request',
      )
    done()
  })

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status = error.statusCode ?? 500
    // The rate limit's refusal is the object errorResponseBuilder made, its words in `error`.
    if (status === 429)
      return reply.code(429).send({ error: (error as { error?: string }).error ?? error.message })
    if (status >= 400 && status < 500) return reply.code(status).send({ error: error.message })
    // A value the store cannot take that validation let through: the client's to fix, and nothing was lost.
    if (error instanceof RowRejectedError)
      return reply.code(400).send({ error: `The transaction was refused: ${error.message}` })
    const code = error.code ?? ''
    if (
      /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|57014|57P0[1-3]|08\d\d\d)$/.test(code) ||
      /Connection is closed|max retries|Command timed out/i.test(error.message)
    )
      return unavailable(reply, 'A service behind the gateway is unavailable; try again')
    if (deps.logger !== undefined) request.log.error({ err: error }, 'request failed')
    else deps.log?.(`error: ${error.stack ?? error.message}`)
    return reply.code(500).send({ error: 'Internal error; it is logged' })
  })

  // One budget per key per window over every route, counted in Redis so every gateway shares it. Global:
  // a limit set per route counts each route apart (a key had its budget once per route).
  await app.register(fastifyRateLimit, {
    global: true,
    max: deps.rateLimit.max,
    timeWindow: deps.rateLimit.windowMs,
    keyGenerator: (request: FastifyRequest) => request.apiKey?.id ?? request.ip,
    redis: deps.rateLimit.redis,
    nameSpace: deps.rateLimit.nameSpace,
    hook: 'preParsing',
    skipOnError: false,
    errorResponseBuilder: (_request, context) => {
      deps.metrics.refused.inc({ reason: 'rate_limit' })
      return {
        statusCode: 429,
        error: `Rate limit of ${context.max} requests per ${context.after} for this key reached`,
      }
    },
  })
  const refuseWhenOverloaded = (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    if (!deps.overloaded()) return done()
    deps.metrics.refused.inc({ reason: 'backpressure' })
    void unavailable(reply, 'The pipeline is behind: too many transactions wait to be decided; retry later')
  }

  app.post(
    '/v1/transactions',
    { config: { scope: 'submit' }, preHandler: refuseWhenOverloaded },
    async (request, reply) => {
      const checked = deps.service.validate(request.body)
      if (!checked.ok)
        return reply.code(400).send({
          error: `Invalid transaction: ${checked.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
          errors: checked.errors,
        })
      request.audit = { txn_id: checked.txn.txn_id }
      const outcome = await deps.service.submit(checked.txn, request.apiKey?.id ?? '', request.startedAt)
      if (outcome.kind === 'conflict')
        return reply.code(409).send({
          error: `txn_id ${outcome.txnId} was sent before with other values (${outcome.fields.join(', ')})`,
          fields: outcome.fields,
        })
      const final = String(outcome.result.final)
      const seconds = (performance.now() - request.startedAt) / 1000
      deps.metrics.decisions.inc({ final, decision: outcome.result.decision })
      deps.metrics.decisionSeconds.observe({ final }, seconds)
      deps.activity?.decided(outcome.result.final, seconds * 1000)
      request.audit = {
        txn_id: outcome.result.txn_id,
        decision: outcome.result.decision,
        final: outcome.result.final,
        ...(outcome.result.duplicate === true ? { duplicate: true } : {}),
      }
      return reply.send(outcome.result)
    },
  )

  app.post(
    '/v1/transactions/batch',
    {
      config: { scope: 'submit' },
      bodyLimit: limits.batchBodyBytes,
      preHandler: refuseWhenOverloaded,
    },
    async (request, reply) => {
      const parsed = BatchRequest.safeParse(request.body)
      if (!parsed.success)
        return reply.code(400).send({
          error: `Invalid batch: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`,
        })
      const outcome = await deps.service.submitBatch(parsed.data.transactions, request.apiKey?.id ?? '')
      // The accepted ones are stored with the key's id; the line says how many of each.
      request.audit = {
        batch: {
          items: outcome.items.length,
          accepted: outcome.accepted,
          duplicates: outcome.duplicates,
          conflicts: outcome.conflicts,
          invalid: outcome.invalid,
        },
      }
      return reply.code(202).send(outcome)
    },
  )

  app.get<{ Params: { txn_id: string } }>(
    '/v1/transactions/:txn_id',
    { config: { scope: 'read' } },
    async (request, reply) => {
      const txnId = request.params.txn_id
      request.audit = { txn_id: txnId.slice(0, 100) }
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(txnId))
        return reply.code(400).send({ error: 'txn_id: must be a UUID' })
      const found = await deps.service.lookup(txnId)
      if (found.status === 'not_found')
        return reply
          .code(404)
          .send({ error: `No transaction ${txnId.toLowerCase()} is stored or on its way` })
      if (found.status === 'pending') return reply.send({ txn_id: found.txn_id, status: 'pending' })
      return reply.send({ txn_id: found.decision.txn_id, status: 'stored', decision: found.decision })
    },
  )

  // Server-Sent Events of review/block decisions; Last-Event-ID (or ?after=) resumes after that alert.
  app.get<{ Querystring: { after?: string } }>(
    '/v1/decisions',
    { config: { scope: 'read' } },
    async (request, reply) => {
      const resume = request.headers['last-event-id'] ?? request.query.after
      if (resume !== undefined && !/^\d{1,15}$/.test(String(resume)))
        return reply.code(400).send({ error: 'Last-Event-ID: must be an event id the stream sent' })
      reply.hijack()
      const from = resume === undefined ? deps.feed.finalId : Number(resume)
      let sent = 0
      let last = from
      const who = {
        route: '/v1/decisions',
        key: request.apiKey?.name ?? null,
        key_id: request.apiKey?.id ?? null,
      }
      request.audit = { feed: true }
      request.log.info({ ...who, after: from }, 'decisions feed opened')
      const raw = reply.raw
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      })
      const stop = followFeed(
        deps.feed,
        from,
        (chunk) => {
          const id = /^id: (\d+)\n/.exec(chunk)?.[1]
          if (id !== undefined) {
            sent++
            last = Number(id)
          }
          return raw.write(chunk)
        },
        deps.log,
        undefined,
        () =>
          new Promise<void>((resolve) => {
            if (raw.destroyed || raw.writableEnded) return resolve()
            const done = () => {
              raw.off('drain', done)
              raw.off('close', done)
              resolve()
            }
            raw.once('drain', done)
            raw.once('close', done)
          }),
      )
      let ended = false
      const end = () => {
        if (ended) return
        ended = true
        request.log.info({ ...who, after: from, events: sent, last }, 'decisions feed ended')
        stop()
        streams.delete(end)
        raw.end()
      }
      streams.add(end)
      request.raw.on('close', end)
    },
  )

  // The open routes (no key) are not counted: probes and documentation.
  const open = { config: { rateLimit: false as const } }
  app.get('/healthz', open, async () => ({ status: 'ok' }))

  app.get('/readyz', open, async (_request, reply) => {
    const ready = await deps.ready()
    // Without a worker on every partition some decisions can only be provisional: not ready.
    const ok = ready.store && ready.redis && ready.partitions.owned === ready.partitions.total
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', ...ready })
  })

  // No /metrics here: it names the API keys; it is served on --metrics-port, on 127.0.0.1 only.

  const document = openApiDocument(deps.version)
  app.get('/openapi.json', open, async () => document)

  return app
}
