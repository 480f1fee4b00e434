import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { checkRedis } from '../../src/main/core/connection-check'
import {
  checkPersistence,
  redisPersistenceWarning,
  redisVersion,
  redisVersionWarning,
} from '../../src/main/pipeline/redis-persistence'
import { spawnWorker, testLayout, waitFor } from '../support/pipeline'
import { startPrivateRedis, type PrivateRedis } from '../support/private-servers'
import { SHARED_POSTGRES_URL } from '../support/services'

/**
 * The persistence check against real servers: one without persistence, one with AOF, one whose CONFIG
 * command is disabled as on many managed services. "Test connection" stays a pass in every case; the
 * warning says what a restart would lose.
 */

const servers: PrivateRedis[] = []
afterAll(async () => {
  for (const server of servers) await server.stop().catch(() => {})
})

async function persistenceOf(server: PrivateRedis) {
  const redis = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
  await redis.connect()
  try {
    return await checkPersistence(redis)
  } finally {
    redis.disconnect()
  }
}

const credentials = (redisUrl: string) => ({
  postgresUrl: SHARED_POSTGRES_URL,
  postgresPassword: undefined,
  redisUrl,
  redisPassword: undefined,
})

describe('Redis persistence check', () => {
  it("reports 'none' for --appendonly no --save '', and Test connection warns", async () => {
    const server = await startPrivateRedis({ extraArgs: ['--appendonly', 'no', '--save', ''] })
    servers.push(server)
    expect(await persistenceOf(server)).toMatchObject({ mode: 'none' })
    const check = await checkRedis(credentials(server.url))
    expect(check).toMatchObject({ service: 'redis', ok: true })
    expect(check.detail).toMatch(/^Redis 7\.\S*, no persistence$/)
    expect(check.warning).toMatch(/no persistence.*restart loses every entry not yet stored/)
    expect(await redisPersistenceWarning({ url: server.url })).toBe(check.warning)
  })

  it("reports 'rdb' for snapshots without AOF", async () => {
    const server = await startPrivateRedis({ extraArgs: ['--appendonly', 'no', '--save', '3600 1'] })
    servers.push(server)
    const persistence = await persistenceOf(server)
    expect(persistence.mode).toBe('rdb')
    expect(persistence.warning).toMatch(/save 3600 1/)
  })

  it("reports 'aof' with appendonly yes, and Test connection has no warning", async () => {
    const server = await startPrivateRedis()
    servers.push(server)
    expect(await persistenceOf(server)).toMatchObject({ mode: 'aof', fsync: 'everysec', warning: undefined })
    const check = await checkRedis(credentials(server.url))
    expect(check.ok).toBe(true)
    expect(check.detail).toMatch(/AOF, appendfsync everysec$/)
    expect(check.warning).toBeUndefined()
    expect(await redisPersistenceWarning({ url: server.url })).toBeUndefined()
    // The version as the server gives it (this machine's Redis has the cjson fix: no warning).
    const redis = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
    await redis.connect()
    try {
      expect(await redisVersion(redis)).toMatch(/^7\.\d+\.\d+$/)
    } finally {
      redis.disconnect()
    }
    expect(await redisVersionWarning({ url: server.url })).toBeUndefined()
  })

  it('says it could not check when CONFIG is disabled, and the connection still passes', async () => {
    const server = await startPrivateRedis({
      extraArgs: ['--appendonly', 'no', '--rename-command', 'CONFIG', ''],
    })
    servers.push(server)
    const check = await checkRedis(credentials(server.url))
    expect(check.ok).toBe(true)
    expect(check.warning).toMatch(/Could not check whether Redis keeps accepted entries.*CONFIG/)
  })

  it('aether worker warns at start when a restart of its Redis would lose accepted entries', async () => {
    const server = await startPrivateRedis({ extraArgs: ['--appendonly', 'no', '--save', ''] })
    servers.push(server)
    const layout = testLayout()
    const worker = spawnWorker([
      '--postgres-url',
      SHARED_POSTGRES_URL,
      '--redis-url',
      server.url,
      '--prefix',
      layout.prefix,
    ])
    try {
      await waitFor(
        'the persistence warning',
        async () => worker.output(),
        // A JSON log line at level warn.
        (output) => /"level":"warn".*no persistence/.test(output),
        30_000,
      )
    } finally {
      worker.child.kill('SIGKILL')
      await worker.exited
    }
  })
})
