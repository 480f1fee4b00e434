import { Migrator } from 'kysely'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type * as StoreModule from '../store/store'
import type { Store } from '../store/store'
import { checkPostgres, diagnosePostgres, diagnoseRedis } from './connection-check'
import type { TeamCredentials } from './profiles'

/**
 * The error-to-problem mapping, fed the shapes the drivers really produce, for the cases a test cannot
 * easily provoke (timeouts, TLS, DNS). Wrong passwords, missing roles and closed ports run against real
 * servers in test/integration/connection-check.test.ts.
 */

const PG_URL = 'postgres://ana@db.example:5433/aether'
const REDIS_URL = 'redis://cache.example:6380/0'

/** An error as pg / ioredis / node:net build them: a message plus a string code. */
const failure = (message: string, code?: string) =>
  Object.assign(new Error(message), code === undefined ? {} : { code })

describe('diagnosePostgres', () => {
  it('reports a rejected password for the user of the URL', () => {
    const result = diagnosePostgres(failure('password authentication failed for user "ana"', '28P01'), PG_URL)
    expect(result).toEqual({
      problem: 'wrong_password',
      message: 'PostgreSQL rejected the password for user "ana". Check the user name and the password.',
    })
  })

  it('asks for a password when the driver had none to send', () => {
    const result = diagnosePostgres(
      failure('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'),
      PG_URL,
    )
    expect(result.problem).toBe('password_required')
    expect(result.message).toContain('"ana"')
    expect(result.message).toMatch(/password/)
  })

  it('names a missing role and a missing database', () => {
    expect(diagnosePostgres(failure('role "ana" does not exist', '28000'), PG_URL)).toEqual({
      problem: 'unknown_user',
      message: 'PostgreSQL has no user "ana".',
    })
    expect(diagnosePostgres(failure('database "aether" does not exist', '3D000'), PG_URL)).toEqual({
      problem: 'unknown_database',
      message: 'PostgreSQL has no database "aether".',
    })
  })

  it('decodes the user name and defaults the database to it, as libpq does', () => {
    const url = 'postgres://an%40lyst@db.example:5433'
    expect(diagnosePostgres(failure('database "an@lyst" does not exist', '3D000'), url).message).toBe(
      'PostgreSQL has no database "an@lyst".',
    )
  })

  it('does not call a pg_hba rejection an unknown user', () => {
    const text = 'no pg_hba.conf entry for host "10.0.0.5", user "ana", database "aether", no encryption'
    const result = diagnosePostgres(failure(text, '28000'), PG_URL)
    expect(result.problem).toBe('other')
    expect(result.message).toContain(text)
  })

  it.each([
    ['ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.5:5433'],
    ['ENOTFOUND', 'getaddrinfo ENOTFOUND db.example'],
    ['EAI_AGAIN', 'getaddrinfo EAI_AGAIN db.example'],
    ['EHOSTUNREACH', 'connect EHOSTUNREACH 10.0.0.5:5433'],
  ])('reports %s as unreachable, naming host, port and code', (code, message) => {
    const result = diagnosePostgres(failure(message, code), PG_URL)
    expect(result.problem).toBe('unreachable')
    expect(result.message).toContain('db.example:5433')
    expect(result.message).toContain(`(${code})`)
  })

  it('says "default port" when the URL has none', () => {
    const result = diagnosePostgres(
      failure('getaddrinfo ENOTFOUND db.example', 'ENOTFOUND'),
      'postgres://ana@db.example/x',
    )
    expect(result.message).toContain('db.example:default port')
  })

  it('reports the connect timeout of pg as a timeout', () => {
    const result = diagnosePostgres(failure('Connection terminated due to connection timeout'), PG_URL)
    expect(result).toEqual({
      problem: 'timeout',
      message: 'PostgreSQL at db.example:5433 did not answer within 5 s.',
    })
  })

  it.each([
    ['The server does not support SSL connections', undefined],
    ['self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'],
    [
      "Hostname/IP does not match certificate's altnames: Host: db.example. is not in the cert's altnames",
      'ERR_TLS_CERT_ALTNAME_INVALID',
    ],
  ])('reports "%s" as a TLS problem, keeping the reason', (message, code) => {
    const result = diagnosePostgres(failure(message, code), PG_URL)
    expect(result.problem).toBe('tls')
    expect(result.message).toContain(message)
  })

  it('keeps the text of anything else, also of non-Error values', () => {
    expect(diagnosePostgres(failure('Connection terminated unexpectedly'), PG_URL)).toEqual({
      problem: 'other',
      message: 'PostgreSQL: Connection terminated unexpectedly',
    })
    expect(diagnosePostgres('something odd', PG_URL)).toEqual({
      problem: 'other',
      message: 'PostgreSQL: something odd',
    })
  })
})

describe('diagnoseRedis', () => {
  it.each(['WRONGPASS invalid username-password pair or user is disabled.', 'ERR invalid password'])(
    'reports "%s" as a wrong password',
    (message) => {
      expect(diagnoseRedis(failure(message), REDIS_URL)).toEqual({
        problem: 'wrong_password',
        message: 'Redis rejected the user name or password.',
      })
    },
  )

  it('asks for a password on NOAUTH', () => {
    const result = diagnoseRedis(failure('NOAUTH Authentication required.'), REDIS_URL)
    expect(result.problem).toBe('password_required')
    expect(result.message).toMatch(/password/)
  })

  it.each([
    ['ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.6:6380'],
    ['ENOTFOUND', 'getaddrinfo ENOTFOUND cache.example'],
    ['EAI_AGAIN', 'getaddrinfo EAI_AGAIN cache.example'],
    ['EHOSTUNREACH', 'connect EHOSTUNREACH 10.0.0.6:6380'],
  ])('reports %s as unreachable, naming host, port and code', (code, message) => {
    const result = diagnoseRedis(failure(message, code), REDIS_URL)
    expect(result.problem).toBe('unreachable')
    expect(result.message).toContain('cache.example:6380')
    expect(result.message).toContain(`(${code})`)
  })

  it('reports the connect timeout of ioredis as a timeout', () => {
    expect(diagnoseRedis(failure('connect ETIMEDOUT', 'ETIMEDOUT'), REDIS_URL)).toEqual({
      problem: 'timeout',
      message: 'Redis at cache.example:6380 did not answer within 5 s.',
    })
  })

  it('keeps the text of anything else', () => {
    expect(diagnoseRedis(failure('ERR unknown command'), REDIS_URL)).toEqual({
      problem: 'other',
      message: 'Redis: ERR unknown command',
    })
  })
})

/*
 * schema_too_old needs a database behind the app: an older build (one that knew only 0001_initial)
 * migrates a real PGlite store; the PostgreSQL connection itself is stubbed out.
 */
const fake = vi.hoisted(() => ({ store: undefined as Store | undefined }))

vi.mock('pg', () => {
  class Client {
    on() {}
    async connect() {}
    async query() {
      return { rows: [{ server_version: '16.4' }] }
    }
    async end() {}
  }
  return { default: { Client } }
})

vi.mock('../store/store', async (importOriginal) => {
  const actual = await importOriginal<typeof StoreModule>()
  return {
    ...actual,
    openPostgresStore: (): Store => {
      if (fake.store === undefined) throw new Error('no embedded store opened')
      return { ...fake.store, close: async () => {} }
    },
  }
})

describe('checkPostgres schema states', () => {
  const credentials: TeamCredentials = {
    postgresUrl: PG_URL,
    postgresPassword: 'secret',
    redisUrl: REDIS_URL,
    redisPassword: undefined,
  }

  beforeAll(async () => {
    const { openEmbeddedStore } = await import('../store/store')
    fake.store = await openEmbeddedStore(undefined)
  }, 60_000)

  afterAll(async () => {
    await fake.store?.close()
  })

  it('says schema_too_old for a database an older build migrated, and ok once migrated', async () => {
    const store = fake.store
    if (store === undefined) throw new Error('no embedded store opened')
    const { migrations, latestMigration } = await import('../store/migrations')
    const { migrateToLatest } = await import('../store/migrate')
    const initial = migrations['0001_initial']
    if (initial === undefined) throw new Error('0001_initial is missing')
    const olderBuild = new Migrator({
      db: store.db,
      provider: { getMigrations: async () => ({ '0001_initial': initial }) },
    })
    const { error } = await olderBuild.migrateToLatest()
    expect(error).toBeUndefined()

    const old = await checkPostgres(credentials)
    expect(old).toMatchObject({
      service: 'postgres',
      ok: false,
      problem: 'schema_too_old',
      detail: 'PostgreSQL 16.4',
    })
    expect(old.message).toContain('0001_initial')
    expect(old.message).toContain(latestMigration)
    expect(old.message).toContain('aether migrate')

    await migrateToLatest(store)
    const current = await checkPostgres(credentials)
    expect(current).toMatchObject({ ok: true, detail: 'PostgreSQL 16.4' })
    expect(current.message).toContain(latestMigration)
  }, 60_000)
})
