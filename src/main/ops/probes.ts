import pg from 'pg'
import { Gauge, type Registry } from 'prom-client'
import { checkPersistence, type PersistenceMode } from '../pipeline/redis-persistence'
import { connectRedis, type RedisConnection } from '../pipeline/redis-stream'
import { postgresPoolConfig } from '../store/store'
import { messageOf } from '../errors'

/**
 * The services a headless process depends on, looked at on a timer of its own: `aether_store_up`,
 * `aether_redis_up` and `aether_redis_persistence{mode}`, for the alerts "store unreachable" and "Redis
 * without persistence". A look never throws; a failed one is a 0.
 */

export interface ServiceProbeOptions {
  registry: Registry
  postgres: { url: string; password?: string | undefined }
  redis: RedisConnection
  everyMs?: number
  /** Told when a service's reachability changes. */
  onChange?: (service: 'store' | 'redis', up: boolean, problem: string | undefined) => void
}

const MODES: PersistenceMode[] = ['aof', 'rdb', 'none', 'unknown']
export function watchServices(options: ServiceProbeOptions): { stop(): void; looked: Promise<void> } {
  const registers = [options.registry]
  const storeUp = new Gauge({
    name: 'aether_store_up',
    help: '1 when the team PostgreSQL answered the last look (every 10 s), 0 when it did not.',
    registers,
  })
  const redisUp = new Gauge({
    name: 'aether_redis_up',
    help: '1 when the team Redis answered the last look (every 10 s), 0 when it did not.',
    registers,
  })
  const persistence = new Gauge({
    name: 'aether_redis_persistence',
    help: '1 for the persistence mode of the team Redis (aof, rdb, none; unknown when CONFIG is refused).',
    labelNames: ['mode'],
    registers,
  })
  const pool = new pg.Pool({
    ...postgresPoolConfig({
      connectionString: options.postgres.url,
      password: options.postgres.password,
      max: 1,
      applicationName: 'aether-probe',
      connectTimeoutMs: 3000,
    }),
    idleTimeoutMillis: 1000,
  })
  pool.on('error', () => {})
  const redis = connectRedis(options.redis, {
    name: 'aether-probe',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 3000,
    enableOfflineQueue: false,
  })
  const last: Record<'store' | 'redis', boolean | undefined> = { store: undefined, redis: undefined }
  const seen = (service: 'store' | 'redis', up: boolean, problem?: string) => {
    ;(service === 'store' ? storeUp : redisUp).set(up ? 1 : 0)
    if (last[service] !== up) options.onChange?.(service, up, problem)
    last[service] = up
  }
  const lookAtStore = async () => {
    try {
      await pool.query('SELECT 1')
      seen('store', true)
    } catch (error) {
      seen('store', false, messageOf(error))
    }
  }
  const lookAtRedis = async () => {
    try {
      if (redis.status === 'wait' || redis.status === 'end') await redis.connect()
      await redis.ping()
      const { mode } = await checkPersistence(redis)
      for (const each of MODES) persistence.set({ mode: each }, each === mode ? 1 : 0)
      seen('redis', true)
    } catch (error) {
      persistence.reset()
      seen('redis', false, messageOf(error))
    }
  }
  const look = () => Promise.all([lookAtStore(), lookAtRedis()]).then(() => {})
  const looked = look()
  const timer = setInterval(() => void look(), options.everyMs ?? 10_000)
  timer.unref()
  return {
    looked,
    stop: () => {
      clearInterval(timer)
      void pool.end().catch(() => {})
      redis.disconnect()
    },
  }
}
