import type { Redis } from 'ioredis'

/**
 * The gateways as the team sees them (the Dashboard's panel): each gateway keeps a hash of its own in
 * Redis, refreshed every second, with its request rate, p99 and share of final decisions over the last
 * 10 s, and its refusals by API key name. The hash expires a minute after its last refresh, so a gateway
 * that died shows as not alive for a while, then is gone; one that stops cleanly removes itself.
 *
 * Every key carries the hash tag `{gateways}`: on Redis Cluster the index and the hashes share one slot,
 * so the refresh is one script and a read is one pipeline. Times are Redis's own (TIME), so gateways on
 * hosts whose clocks disagree still read as alive or not alike.
 */

export interface GatewayReport {
  id: string
  url: string
  startedAt: string
  seenAt: string
  alive: boolean
  requestsPerSecond: number
  p99Ms: number | null
  finalPct: number | null
  errorsByKey: { key: string; errors: number }[]
}

/** A gateway not seen for this long is not alive. */
export const ALIVE_WITHIN_MS = 5000
/** How long a gateway's hash outlives its last refresh (then it is no longer listed). */
export const REPORT_TTL_MS = 60_000
/** The window of the rates and the p99. */
export const WINDOW_S = 10
const REFRESH_MS = 1000
/** The name under which requests without a (valid) key count. */
export const NO_KEY = '(no key)'

const indexKey = (prefix: string) => `${prefix}gw:{gateways}`
const reportKey = (prefix: string, id: string) => `${prefix}gw:{gateways}:${id}`

/** Latency buckets of 1 ms up to this; slower ones count in the last (a p99 of 1000 is "1 s or more"). */
const BUCKETS = 1000

interface Second {
  at: number
  requests: number
  final: number
  provisional: number
  latencies: Uint32Array
  errors: Map<string, number>
}

const emptySecond = (at: number): Second => ({
  at,
  requests: 0,
  final: 0,
  provisional: 0,
  latencies: new Uint32Array(BUCKETS + 1),
  errors: new Map(),
})

/**
 * What one gateway did, per second, for the last WINDOW_S seconds: recording is a few additions, the
 * figures are computed once a second by the publisher.
 */
export class GatewayActivity {
  private readonly seconds: Second[] = []

  constructor(private readonly now: () => number = Date.now) {}

  private current(): Second {
    const at = Math.floor(this.now() / 1000)
    let last = this.seconds.at(-1)
    if (last === undefined || last.at !== at) {
      last = emptySecond(at)
      this.seconds.push(last)
      while (this.seconds.length > WINDOW_S + 1) this.seconds.shift()
    }
    return last
  }

  /**
   * An answered request on `route` (Fastify's route pattern). Only the API's routes (/v1/…) count: the
   * panel's rate and errors by key are about producers and consumers; a load balancer's /healthz and
   * /readyz probes (503 by design while not ready) carry no key and would show as "(no key)" errors of
   * nobody, and unmatched paths are scanners. Of those, a refusal or failure (400 and above) counts as
   * an error of its key, except 404: a lookup of a transaction not stored yet is an answer, not a fault
   * of the caller or the gateway.
   */
  request(route: string | undefined, status: number, keyName: string | undefined): void {
    if (route === undefined || !route.startsWith('/v1/')) return
    const second = this.current()
    second.requests++
    if (status >= 400 && status !== 404) {
      const key = keyName ?? NO_KEY
      second.errors.set(key, (second.errors.get(key) ?? 0) + 1)
    }
  }

  /** A transaction answered with a decision, final or provisional, after `ms`. */
  decided(final: boolean, ms: number): void {
    const second = this.current()
    if (final) second.final++
    else second.provisional++
    second.latencies[Math.min(BUCKETS, Math.max(0, Math.ceil(ms)))]! += 1
  }

  /** The figures over the last WINDOW_S full seconds (the current, partial one left out). */
  figures(): Pick<GatewayReport, 'requestsPerSecond' | 'p99Ms' | 'finalPct' | 'errorsByKey'> {
    const now = Math.floor(this.now() / 1000)
    const window = this.seconds.filter((second) => second.at < now && second.at >= now - WINDOW_S)
    let requests = 0
    let final = 0
    let provisional = 0
    const latencies = new Uint32Array(BUCKETS + 1)
    const errors = new Map<string, number>()
    for (const second of window) {
      requests += second.requests
      final += second.final
      provisional += second.provisional
      for (let i = 0; i <= BUCKETS; i++) latencies[i]! += second.latencies[i]!
      for (const [key, count] of second.errors) errors.set(key, (errors.get(key) ?? 0) + count)
    }
    const decided = final + provisional
    let p99Ms: number | null = null
    if (decided > 0) {
      const rank = Math.ceil(decided * 0.99)
      let seen = 0
      for (let i = 0; i <= BUCKETS; i++) {
        seen += latencies[i]!
        if (seen >= rank) {
          p99Ms = i
          break
        }
      }
    }
    return {
      requestsPerSecond: Math.round((requests / WINDOW_S) * 10) / 10,
      p99Ms,
      finalPct: decided === 0 ? null : Math.round((final / decided) * 1000) / 10,
      errorsByKey: [...errors]
        .map(([key, count]) => ({ key, errors: count }))
        .sort((a, b) => b.errors - a.errors || a.key.localeCompare(b.key)),
    }
  }
}

/** Writes the hash with Redis's time, indexes it, and forgets gateways whose hash has expired. */
const REFRESH = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], 'seenAt', now, unpack(ARGV, 3))
redis.call('HSETNX', KEYS[2], 'startedAt', now)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return now
`

interface RefreshingRedis extends Redis {
  gatewayRefresh(index: string, report: string, ...args: string[]): Promise<number>
}

/** One gateway's entry in the registry, refreshed every second until stopped. */
export class GatewayPublisher {
  private timer: NodeJS.Timeout | undefined
  private refreshing: Promise<void> | undefined
  private readonly redis: RefreshingRedis

  constructor(
    redis: Redis,
    private readonly prefix: string,
    readonly id: string,
    private readonly url: string,
    private readonly activity: GatewayActivity,
    private readonly log?: (line: string) => void,
  ) {
    redis.defineCommand('gatewayRefresh', { numberOfKeys: 2, lua: REFRESH })
    this.redis = redis as RefreshingRedis
  }

  async start(): Promise<void> {
    await this.refresh()
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS)
    this.timer.unref()
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.write().finally(() => (this.refreshing = undefined))
    return this.refreshing
  }

  private async write(): Promise<void> {
    const figures = this.activity.figures()
    try {
      await this.redis.gatewayRefresh(
        indexKey(this.prefix),
        reportKey(this.prefix, this.id),
        this.id,
        String(REPORT_TTL_MS),
        'url',
        this.url,
        'requestsPerSecond',
        String(figures.requestsPerSecond),
        'p99Ms',
        figures.p99Ms === null ? '' : String(figures.p99Ms),
        'finalPct',
        figures.finalPct === null ? '' : String(figures.finalPct),
        'errorsByKey',
        JSON.stringify(figures.errorsByKey),
      )
    } catch (error) {
      // Redis is away: the gateway shows as not alive until it is back.
      this.log?.(`could not refresh this gateway's report: ${String(error)}`)
    }
  }

  /** Stops refreshing and removes the entry: a gateway stopped on purpose is not a dead one. */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.refreshing
    await this.redis
      .multi()
      .zrem(indexKey(this.prefix), this.id)
      .del(reportKey(this.prefix, this.id))
      .exec()
      .catch(() => {})
  }
}

const numberOrNull = (text: string | undefined) =>
  text === undefined || text === '' || !Number.isFinite(Number(text)) ? null : Number(text)

function errorsOf(text: string | undefined): GatewayReport['errorsByKey'] {
  try {
    const parsed = JSON.parse(text ?? '[]') as unknown
    if (!Array.isArray(parsed)) return []
    return parsed.flatMap((item) => {
      const { key, errors } = (item ?? {}) as { key?: unknown; errors?: unknown }
      return typeof key === 'string' && typeof errors === 'number' ? [{ key, errors }] : []
    })
  } catch {
    return []
  }
}

/** Every gateway seen within REPORT_TTL_MS, alive ones first, then by id. */
export async function readGateways(redis: Redis, prefix: string): Promise<GatewayReport[]> {
  const [[, time], [, ids]] = ((await redis.multi().time().zrange(indexKey(prefix), 0, -1).exec()) ?? []) as [
    [Error | null, [string, string]],
    [Error | null, string[]],
  ]
  const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000)
  if (ids.length === 0) return []
  const pipeline = redis.pipeline()
  for (const id of ids) pipeline.hgetall(reportKey(prefix, id))
  const hashes = (await pipeline.exec()) ?? []
  const reports: GatewayReport[] = []
  ids.forEach((id, index) => {
    const [error, hash] = hashes[index] ?? [null, {}]
    const fields = (error === null ? hash : {}) as Record<string, string>
    const seenAt = Number(fields.seenAt)
    if (!Number.isFinite(seenAt)) return // expired between the two reads
    const startedAt = Number(fields.startedAt)
    reports.push({
      id,
      url: fields.url ?? '',
      startedAt: new Date(Number.isFinite(startedAt) ? startedAt : seenAt).toISOString(),
      seenAt: new Date(seenAt).toISOString(),
      alive: now - seenAt <= ALIVE_WITHIN_MS,
      requestsPerSecond: numberOrNull(fields.requestsPerSecond) ?? 0,
      p99Ms: numberOrNull(fields.p99Ms),
      finalPct: numberOrNull(fields.finalPct),
      errorsByKey: errorsOf(fields.errorsByKey),
    })
  })
  return reports.sort((a, b) => Number(b.alive) - Number(a.alive) || a.id.localeCompare(b.id))
}
