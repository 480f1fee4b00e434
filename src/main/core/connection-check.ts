import { Redis } from 'ioredis'
import pg from 'pg'
import type { ConnectionProblem, ServiceCheck } from '../../shared/profile'
import { ACCOUNT_DISABLED_MESSAGE } from '../../shared/session-contract'
import { checkPersistence, redisVersion } from '../pipeline/redis-persistence'
import { schemaState } from '../store/migrate'
import { openPostgresStore, postgresUrlWithPassword } from '../store/store'
import type { TeamCredentials } from './profiles'

const CONNECT_TIMEOUT_MS = 5000
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])

interface Diagnosis {
  problem: ConnectionProblem
  message: string
}

const describeTarget = (url: string) => {
  const parsed = new URL(url)
  return `${parsed.hostname}:${parsed.port === '' ? 'default port' : parsed.port}`
}

/** Turns a driver error into a sentence the user can act on. */
export function diagnosePostgres(error: unknown, url: string): Diagnosis {
  const parsed = new URL(url)
  const user = decodeURIComponent(parsed.username) || '(default user)'
  const database = decodeURIComponent(parsed.pathname.slice(1)) || user
  const code = (error as { code?: string }).code
  const text = error instanceof Error ? error.message : String(error)
  if (code === '28P01')
    return {
      problem: 'wrong_password',
      message: `PostgreSQL rejected the password for user "${user}". Check the user name and the password.`,
    }
  if (/password must be a string|no password supplied|password authentication failed/i.test(text))
    return {
      problem: 'password_required',
      message: `PostgreSQL asks for a password for user "${user}"; none is saved in this profile.`,
    }
  if (code === '28000' && /is not permitted to log in/.test(text))
    return { problem: 'account_disabled', message: ACCOUNT_DISABLED_MESSAGE }
  if (code === '28000' && /role .* does not exist/.test(text))
    return { problem: 'unknown_user', message: `PostgreSQL has no user "${user}".` }
  if (code === '3D000')
    return { problem: 'unknown_database', message: `PostgreSQL has no database "${database}".` }
  // Since migration 0007 only the enabled analysts and workers of a team database may connect to it;
  // from outside, one never added and one disabled there look alike.
  if (code === '42501' && /permission denied for database/.test(text))
    return {
      problem: 'other',
      message: `"${user}" may not use the database "${database}": not one of its analysts, or disabled there by an administrator. Ask one of its admins.`,
    }
  if (UNREACHABLE.has(code ?? ''))
    return {
      problem: 'unreachable',
      message: `Cannot reach PostgreSQL at ${describeTarget(url)} (${code}). Is the server running and the address right?`,
    }
  if (code === 'ETIMEDOUT' || /timeout/i.test(text))
    return {
      problem: 'timeout',
      message: `PostgreSQL at ${describeTarget(url)} did not answer within ${CONNECT_TIMEOUT_MS / 1000} s.`,
    }
  if (/ssl|tls|certificate/i.test(text))
    return { problem: 'tls', message: `TLS to PostgreSQL failed: ${text}` }
  return { problem: 'other', message: `PostgreSQL: ${text}` }
}

export function diagnoseRedis(error: unknown, url: string): Diagnosis {
  const code = (error as { code?: string }).code
  const text = error instanceof Error ? error.message : String(error)
  if (/WRONGPASS|invalid password|invalid username-password/i.test(text))
    return { problem: 'wrong_password', message: 'Redis rejected the user name or password.' }
  if (/NOAUTH/i.test(text))
    return {
      problem: 'password_required',
      message: 'Redis asks for a password; none is saved in this profile.',
    }
  if (UNREACHABLE.has(code ?? ''))
    return {
      problem: 'unreachable',
      message: `Cannot reach Redis at ${describeTarget(url)} (${code}). Is the server running and the address right?`,
    }
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(text))
    return {
      problem: 'timeout',
      message: `Redis at ${describeTarget(url)} did not answer within ${CONNECT_TIMEOUT_MS / 1000} s.`,
    }
  if (/ssl|tls|certificate/i.test(text)) return { problem: 'tls', message: `TLS to Redis failed: ${text}` }
  return { problem: 'other', message: `Redis: ${text}` }
}

async function timed(
  service: ServiceCheck['service'],
  run: () => Promise<Omit<ServiceCheck, 'service' | 'millis'>>,
) {
  const started = performance.now()
  const result = await run()
  return { service, ...result, millis: Math.round(performance.now() - started) } satisfies ServiceCheck
}

export function checkPostgres(credentials: TeamCredentials): Promise<ServiceCheck> {
  return timed('postgres', async () => {
    const { postgresUrl: url, postgresPassword: password } = credentials
    const client = new pg.Client({
      connectionString: postgresUrlWithPassword(url, password),
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      // A server that takes the connection and never answers (a wrong port) is not waited for forever.
      query_timeout: CONNECT_TIMEOUT_MS,
    })
    client.on('error', () => {})
    let version: string
    try {
      await client.connect()
      const result = await client.query<{ server_version: string }>('SHOW server_version')
      version = `PostgreSQL ${result.rows[0]?.server_version ?? '?'}`
    } catch (error) {
      return { ok: false, ...diagnosePostgres(error, url) }
    } finally {
      await client.end().catch(() => {})
    }
    const store = openPostgresStore({ connectionString: url, password, max: 1 })
    try {
      const schema = await schemaState(store)
      if (schema.current === null)
        return {
          ok: false,
          problem: 'schema_missing',
          message: 'The database has no Aether schema yet. Run `aether migrate --url <this URL>` once.',
          detail: version,
        }
      if (schema.unknown.length > 0)
        return {
          ok: false,
          problem: 'schema_too_new',
          message: `The database schema (${schema.current}) is newer than this app knows (${schema.latest}). Update the app.`,
          detail: version,
        }
      if (schema.pending.length > 0)
        return {
          ok: false,
          problem: 'schema_too_old',
          message: `The database schema is at ${schema.current}; this app needs ${schema.latest}. Run \`aether migrate\`.`,
          detail: version,
        }
      return { ok: true, message: `Connected; schema ${schema.current} is current.`, detail: version }
    } catch (error) {
      return { ok: false, ...diagnosePostgres(error, url), detail: version }
    } finally {
      await store.close()
    }
  })
}

export function checkRedis(credentials: TeamCredentials): Promise<ServiceCheck> {
  return timed('redis', async () => {
    const { redisUrl: url, redisPassword: password } = credentials
    const redis = new Redis(url, {
      ...(password !== undefined ? { password } : {}),
      lazyConnect: true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: CONNECT_TIMEOUT_MS,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    })
    // connect() only rejects with "Connection is closed."; the reason comes as an 'error' event.
    let cause: unknown
    redis.on('error', (error) => {
      cause ??= error
    })
    try {
      await redis.connect()
      await redis.ping()
      const version = (await redisVersion(redis)) ?? '?'
      // Reachable is what "ok" means; a Redis that would lose accepted entries on a restart is a warning.
      const persistence = await checkPersistence(redis)
      return {
        ok: true,
        message: 'Connected.',
        detail: `Redis ${version}, ${persistence.label}`,
        ...(persistence.warning !== undefined ? { warning: persistence.warning } : {}),
      }
    } catch (error) {
      return { ok: false, ...diagnoseRedis(cause ?? error, url) }
    } finally {
      redis.disconnect()
    }
  })
}
