import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkPostgres, checkRedis } from '../../src/main/core/connection-check'
import type { TeamCredentials } from '../../src/main/core/profiles'
import { migrateToLatest } from '../../src/main/store/migrate'
import { latestMigration } from '../../src/main/store/migrations'
import { openPostgresStore } from '../../src/main/store/store'
import {
  freePort,
  startPrivatePostgres,
  startPrivateRedis,
  type PrivatePostgres,
  type PrivateRedis,
} from '../support/private-servers'
import {
  createTestDatabase,
  SHARED_POSTGRES_URL,
  SHARED_REDIS_URL,
  uniqueName,
  type TestDatabase,
} from '../support/services'

/**
 * What "Test connection" tells the user, against real servers. The shared PostgreSQL trusts every
 * login, so passwords are checked on a private scram-sha-256 cluster and a private Redis with
 * requirepass, each started once for this file.
 */

const POSTGRES_PASSWORD = 'pg-Secret 7%41:@/'
const REDIS_PASSWORD = 'redis-Secret 9'

const postgresCredentials = (postgresUrl: string, postgresPassword?: string): TeamCredentials => ({
  postgresUrl,
  postgresPassword,
  redisUrl: SHARED_REDIS_URL,
  redisPassword: undefined,
})

const redisCredentials = (redisUrl: string, redisPassword?: string): TeamCredentials => ({
  postgresUrl: SHARED_POSTGRES_URL,
  postgresPassword: undefined,
  redisUrl,
  redisPassword,
})

const withUrl = (base: string, change: (url: URL) => void) => {
  const url = new URL(base)
  change(url)
  return url.toString()
}

const POSTGRES_VERSION = /^PostgreSQL \d+(\.\d+)?/

describe('PostgreSQL check on a password-protected server', () => {
  let server: PrivatePostgres

  beforeAll(async () => {
    server = await startPrivatePostgres({ password: POSTGRES_PASSWORD })
  })

  afterAll(async () => {
    await server?.stop()
  })

  it('connects with the right password once the schema is migrated', async () => {
    const store = openPostgresStore({ connectionString: server.url, password: server.password, max: 1 })
    try {
      await migrateToLatest(store)
    } finally {
      await store.close()
    }
    const check = await checkPostgres(postgresCredentials(server.url, server.password))
    expect(check).toMatchObject({ service: 'postgres', ok: true })
    expect(check.problem).toBeUndefined()
    expect(check.detail).toMatch(POSTGRES_VERSION)
    expect(check.message).toContain(latestMigration)
  })

  it('says the password is wrong, naming the user', async () => {
    const check = await checkPostgres(postgresCredentials(server.url, 'not-the-password'))
    expect(check).toMatchObject({ ok: false, problem: 'wrong_password' })
    expect(check.message).toContain('"postgres"')
    expect(check.message).toMatch(/password/i)
  })

  it('says a password is required when the profile has none', async () => {
    const check = await checkPostgres(postgresCredentials(server.url))
    expect(check).toMatchObject({ ok: false, problem: 'password_required' })
    expect(check.message).toContain('"postgres"')
    expect(check.message).toMatch(/password/i)
  })

  it('cannot tell an unknown user from a wrong password: the server hides which it was', async () => {
    // With password authentication PostgreSQL answers 28P01 for a missing role too, on purpose.
    const user = uniqueName('nobody')
    const url = withUrl(server.url, (parsed) => (parsed.username = user))
    const check = await checkPostgres(postgresCredentials(url, POSTGRES_PASSWORD))
    expect(check).toMatchObject({ ok: false, problem: 'wrong_password' })
    expect(check.message).toContain(`"${user}"`)
  })

  it('names a database that does not exist', async () => {
    const database = uniqueName('missing_db')
    const url = withUrl(server.url, (parsed) => (parsed.pathname = `/${database}`))
    const check = await checkPostgres(postgresCredentials(url, server.password))
    expect(check).toMatchObject({ ok: false, problem: 'unknown_database' })
    expect(check.message).toContain(`"${database}"`)
  })

  it('answers again after a restart', async () => {
    await server.restart()
    const check = await checkPostgres(postgresCredentials(server.url, server.password))
    expect(check).toMatchObject({ ok: true })
    expect(check.detail).toMatch(POSTGRES_VERSION)
  })
})

describe('PostgreSQL check on the shared server', () => {
  let database: TestDatabase

  beforeAll(async () => {
    database = await createTestDatabase('aether_check')
  })

  afterAll(async () => {
    await database?.drop()
  })

  it('names a user the server does not have', async () => {
    const user = uniqueName('nobody')
    const url = withUrl(database.url, (parsed) => (parsed.username = user))
    const check = await checkPostgres(postgresCredentials(url))
    expect(check).toMatchObject({ ok: false, problem: 'unknown_user' })
    expect(check.message).toContain(`"${user}"`)
  })

  it('names a database that does not exist', async () => {
    const name = uniqueName('missing_db')
    const url = withUrl(database.url, (parsed) => (parsed.pathname = `/${name}`))
    const check = await checkPostgres(postgresCredentials(url))
    expect(check).toMatchObject({ ok: false, problem: 'unknown_database' })
    expect(check.message).toContain(`"${name}"`)
  })

  it('says a reachable but empty database has no schema yet', async () => {
    const check = await checkPostgres(postgresCredentials(database.url))
    expect(check).toMatchObject({ ok: false, problem: 'schema_missing' })
    expect(check.detail).toMatch(POSTGRES_VERSION)
    expect(check.message).toContain('aether migrate')
  })

  it('is ok once migrated', async () => {
    const store = openPostgresStore({ connectionString: database.url, max: 1 })
    try {
      await migrateToLatest(store)
    } finally {
      await store.close()
    }
    const check = await checkPostgres(postgresCredentials(database.url))
    expect(check).toMatchObject({ ok: true })
    expect(check.message).toContain(latestMigration)
  })

  it('says the schema is newer than the app when a later migration was applied', async () => {
    const future = '9999_future'
    expect(future > latestMigration).toBe(true)
    const store = openPostgresStore({ connectionString: database.url, max: 1 })
    try {
      await sql`INSERT INTO kysely_migration (name, timestamp) VALUES (${future}, ${new Date().toISOString()})`.execute(
        store.db,
      )
    } finally {
      await store.close()
    }
    const check = await checkPostgres(postgresCredentials(database.url))
    expect(check).toMatchObject({ ok: false, problem: 'schema_too_new' })
    expect(check.message).toContain(future)
    expect(check.message).toContain(latestMigration)
    expect(check.message).toMatch(/update the app/i)
  })

  it('says nothing listens on a closed port', async () => {
    const port = await freePort()
    const url = withUrl(database.url, (parsed) => (parsed.port = String(port)))
    const check = await checkPostgres(postgresCredentials(url))
    expect(check).toMatchObject({ ok: false, problem: 'unreachable' })
    expect(check.message).toContain(`127.0.0.1:${port}`)
    expect(check.message).toContain('ECONNREFUSED')
  })
})

describe('Redis check on a password-protected server', () => {
  let server: PrivateRedis

  beforeAll(async () => {
    server = await startPrivateRedis({ password: REDIS_PASSWORD })
  })

  afterAll(async () => {
    await server?.stop()
  })

  it('connects with the right password and reports the version', async () => {
    const check = await checkRedis(redisCredentials(server.url, REDIS_PASSWORD))
    expect(check).toMatchObject({ service: 'redis', ok: true })
    expect(check.problem).toBeUndefined()
    expect(check.detail).toMatch(/^Redis 7\./)
  })

  it('says the password is wrong', async () => {
    const check = await checkRedis(redisCredentials(server.url, 'not-the-password'))
    expect(check).toMatchObject({ ok: false, problem: 'wrong_password' })
    expect(check.message).toMatch(/password/i)
  })

  it('says a password is required when the profile has none', async () => {
    const check = await checkRedis(redisCredentials(server.url))
    expect(check).toMatchObject({ ok: false, problem: 'password_required' })
    expect(check.message).toMatch(/password/i)
  })

  it('says nothing listens on a closed port', async () => {
    const port = await freePort()
    const check = await checkRedis(redisCredentials(`redis://127.0.0.1:${port}`, REDIS_PASSWORD))
    expect(check).toMatchObject({ ok: false, problem: 'unreachable' })
    expect(check.message).toContain(`127.0.0.1:${port}`)
    expect(check.message).toContain('ECONNREFUSED')
  })

  it('says unreachable while the server is down and ok after it restarts', async () => {
    await server.kill()
    const down = await checkRedis(redisCredentials(server.url, REDIS_PASSWORD))
    expect(down).toMatchObject({ ok: false, problem: 'unreachable' })
    expect(down.message).toContain(`127.0.0.1:${server.port}`)
    await server.restart()
    const up = await checkRedis(redisCredentials(server.url, REDIS_PASSWORD))
    expect(up).toMatchObject({ ok: true })
    expect(up.detail).toMatch(/^Redis 7\./)
  })
})
