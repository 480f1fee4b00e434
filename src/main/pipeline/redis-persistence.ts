import type { Redis } from 'ioredis'
import { connectRedis, type RedisConnection } from './redis-stream'
import { messageOf } from '../errors'

/**
 * Whether the team Redis keeps what it accepted across a restart. An XADD reply means Redis holds the
 * entry in memory; only persistence keeps it (and the consumer groups, pending lists and leases) through a
 * crash. The README's "Running the team Redis" says how to set it up; `aether worker` and "Test connection"
 * warn when it is missing. Managed Redis services often disable CONFIG: then the check says it could not
 * tell, and never fails.
 */

export type PersistenceMode = 'aof' | 'rdb' | 'none' | 'unknown'

export interface PersistenceFacts {
  /** INFO persistence aof_enabled; undefined when INFO could not be read. */
  aofEnabled: boolean | undefined
  /** CONFIG GET appendfsync; undefined when CONFIG is not allowed. */
  appendfsync?: string | undefined
  /** CONFIG GET save ('' = no snapshots); undefined when CONFIG is not allowed. */
  save?: string | undefined
  /** Why a fact could not be read. */
  problem?: string | undefined
}

export interface RedisPersistence {
  mode: PersistenceMode
  /** appendfsync, when AOF is on and CONFIG answered. */
  fsync: string | undefined
  /** A few words for a status line: "AOF, everysec", "no persistence". */
  label: string
  /** One sentence: how this Redis keeps accepted entries. */
  summary: string
  /** Set when a restart can lose accepted entries, or when that could not be checked. */
  warning: string | undefined
}

const HOW_TO = 'Run it with appendonly yes and appendfsync everysec (README: "Running the team Redis").'

/** Pure: what the server's settings mean for entries it has accepted. */
export function describePersistence(facts: PersistenceFacts): RedisPersistence {
  if (facts.aofEnabled === true) {
    const fsync = facts.appendfsync
    if (fsync === 'no')
      return {
        mode: 'aof',
        fsync,
        label: 'AOF, appendfsync no',
        summary: 'AOF on, appendfsync no: the OS decides when to write it to disk.',
        warning:
          'Redis writes its AOF with appendfsync no: a power loss or kernel crash can lose about 30 s of accepted entries. Use appendfsync everysec.',
      }
    return {
      mode: 'aof',
      fsync,
      label: fsync === undefined ? 'AOF' : `AOF, appendfsync ${fsync}`,
      summary:
        fsync === 'always'
          ? 'AOF on, appendfsync always: an accepted entry survives any crash.'
          : fsync === 'everysec'
            ? 'AOF on, appendfsync everysec: a power loss can lose up to about 1 s of accepted entries; a killed Redis loses none.'
            : 'AOF on (appendfsync could not be read: CONFIG is not allowed).',
      warning: undefined,
    }
  }
  if (facts.aofEnabled === false && facts.save === '')
    return {
      mode: 'none',
      fsync: undefined,
      label: 'no persistence',
      summary: 'No persistence: neither AOF nor RDB snapshots.',
      warning: `Redis has no persistence (appendonly no, no snapshots): a Redis restart loses every entry not yet stored, with the consumer groups and pending lists. ${HOW_TO}`,
    }
  if (facts.aofEnabled === false && facts.save !== undefined)
    return {
      mode: 'rdb',
      fsync: undefined,
      label: 'RDB snapshots only',
      summary: `RDB snapshots only (save ${facts.save}).`,
      warning: `Redis keeps only RDB snapshots (save ${facts.save}), no AOF: a crash or restart loses the entries accepted since the last snapshot. ${HOW_TO}`,
    }
  const why = facts.problem ?? 'CONFIG is not allowed'
  return {
    mode: 'unknown',
    fsync: undefined,
    label: 'persistence not checked',
    summary: `Persistence could not be checked (${why}).`,
    warning: `Could not check whether Redis keeps accepted entries through a restart (${why}). ${
      facts.aofEnabled === false ? 'AOF is off. ' : ''
    }Make sure it runs with appendonly yes or your provider's equivalent.`,
  }
}

const configValue = async (redis: Redis, name: string): Promise<string> => {
  const reply = (await redis.call('CONFIG', 'GET', name)) as string[]
  const value = reply[1]
  if (value === undefined) throw new Error(`CONFIG GET ${name} gave no value`)
  return value
}

/** Asks a connected Redis (INFO persistence, CONFIG GET); never throws. */
export async function checkPersistence(redis: Redis): Promise<RedisPersistence> {
  const facts: PersistenceFacts = { aofEnabled: undefined }
  try {
    const info = await redis.info('persistence')
    const aof = /^aof_enabled:(\d)/m.exec(info)?.[1]
    if (aof !== undefined) facts.aofEnabled = aof === '1'
  } catch (error) {
    facts.problem = `INFO persistence: ${messageOf(error)}`
  }
  try {
    if (facts.aofEnabled === true) facts.appendfsync = await configValue(redis, 'appendfsync')
    else facts.save = await configValue(redis, 'save')
  } catch (error) {
    facts.problem ??= `CONFIG GET: ${messageOf(error)}`
  }
  return describePersistence(facts)
}

/**
 * A start-up check of `aether worker` over a short connection of its own: `use`'s answer, or undefined
 * when Redis cannot be reached or answers with an error (an unreachable Redis is the worker's own error
 * to report). Never throws.
 */
async function checkedAtStart<T>(
  connection: RedisConnection,
  name: string,
  use: (redis: Redis) => Promise<T | undefined>,
): Promise<T | undefined> {
  const redis = connectRedis(connection, {
    name,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 5000,
    lazyConnect: true,
  })
  try {
    await redis.connect()
    return await use(redis)
  } catch {
    return undefined
  } finally {
    redis.disconnect()
  }
}

/** For `aether worker` at start: the warning to print about the team Redis, or undefined when it keeps accepted entries. */
export const redisPersistenceWarning = (connection: RedisConnection): Promise<string | undefined> =>
  checkedAtStart(
    connection,
    'aether-persistence-check',
    async (redis) => (await checkPersistence(redis)).warning,
  )

/** The server's version (INFO server redis_version); undefined when INFO does not say. */
export async function redisVersion(redis: Redis): Promise<string | undefined> {
  return /^redis_version:(\S+)/m.exec(await redis.info('server'))?.[1]
}

/**
 * Pure: what a Redis version (INFO server redis_version) means for the workers, or undefined when it is
 * fine or unknown. A worker's fenced read encodes the entries it reads with Redis' cjson (redis-stream.ts
 * FENCED_READ), whose buffer overflow (CVE-2022-24834, fixed in 6.2.13 and 7.0.12) an entry's fields reach;
 * before 6.2 there is no XAUTOCLAIM, which a worker needs to take pending entries over.
 */
export function describeRedisVersion(version: string | undefined): string | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(version ?? '')
  if (match === null) return undefined
  const [major, minor, patch] = match.slice(1).map(Number) as [number, number, number]
  const at = major * 1_000_000 + minor * 1_000 + patch
  if (at < 6_002_000)
    return `Redis ${version} is too old for the workers (they need XAUTOCLAIM, Redis 6.2): upgrade to 7.0.12 or later.`
  if (at < 6_002_013 || (at >= 7_000_000 && at < 7_000_012))
    return `Redis ${version} has a buffer overflow in its Lua cjson (CVE-2022-24834) that an entry's fields reach through the workers' reads: upgrade to 7.0.12 or later (or 6.2.13).`
  return undefined
}

/** For `aether worker` at start: the warning to print about the team Redis' version (describeRedisVersion). */
export const redisVersionWarning = (connection: RedisConnection): Promise<string | undefined> =>
  checkedAtStart(connection, 'aether-version-check', async (redis) =>
    describeRedisVersion(await redisVersion(redis)),
  )

/**
 * Pure: what Redis' proto-max-bulk-len (bytes, CONFIG GET) means for the workers, or undefined when it is
 * at most 64 MiB or unknown. Redis takes fields up to it (512 MiB by default); a worker's read of an
 * entry that large blocks Redis, every client, for seconds (6.2 s for 512 MiB on a 2-core VM), longer than
 * a lease, so the partitions' leases lapse while it reads and the entry is read again by the next owner.
 */
export function describeBulkLimit(bytes: number | undefined): string | undefined {
  if (bytes === undefined || !Number.isFinite(bytes) || bytes <= 64 * 1024 * 1024) return undefined
  const mib = Math.round(bytes / 1024 / 1024)
  return `Redis takes stream fields of up to ${mib} MiB (proto-max-bulk-len): one entry that large blocks Redis for seconds each time a worker reads it, and the partitions' leases can lapse meanwhile. Set proto-max-bulk-len 16mb (README: "Running the team Redis"); a transaction's fields are a few hundred bytes.`
}

/** For `aether worker` at start: the warning about the team Redis' largest field (describeBulkLimit). */
export const redisBulkLimitWarning = (connection: RedisConnection): Promise<string | undefined> =>
  checkedAtStart(connection, 'aether-bulk-limit-check', async (redis) =>
    describeBulkLimit(Number(await configValue(redis, 'proto-max-bulk-len'))),
  )
