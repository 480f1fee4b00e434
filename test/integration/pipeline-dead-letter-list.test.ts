import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRouterClient } from '@orpc/server'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createRouter } from '../../src/main/core/router'
import { Workstation } from '../../src/main/core/workstation'
import { DEFAULT_PARTITIONS, DEFAULT_PREFIX, partitionStream } from '../../src/main/pipeline/partitioning'
import { encodeTransaction } from '../../src/main/pipeline/wire'
import { KeychainSecrets } from '../../src/main/secrets/keychain'
import { generated, migratedDatabase, produce, storedCount, waitFor } from '../support/pipeline'
import { startPrivateRedis } from '../support/private-servers'
import { createTestDatabase, uniqueName } from '../support/services'

/** An operator reads the dead letters in the app: why each message was refused, and the message itself. */

const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

describe('the dead-letter list', () => {
  it('shows the newest refused messages of the team with their reasons and original fields', async () => {
    const redis = await startPrivateRedis()
    cleanups.push(() => redis.stop())
    const database = await createTestDatabase('aether_pipe')
    cleanups.push(() => database.drop())
    await migratedDatabase(database.url)
    const dataDir = await mkdtemp(join(tmpdir(), 'aether-dead-'))
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
    const workstation = new Workstation({
      dataDir,
      secrets: new KeychainSecrets(uniqueName('aether-test')),
      version: 'test',
    })
    await workstation.start()
    cleanups.push(() => workstation.close())
    const client = createRouterClient(createRouter(workstation))

    // Local mode, before any profile: nothing refused yet.
    expect((await client.pipeline.deadLetters()).total).toBe(0)

    const profile = await workstation.profiles.create({
      name: 'Team',
      postgresUrl: database.url,
      redisUrl: redis.url,
    })
    await workstation.activate(profile.id)
    const layout = { prefix: DEFAULT_PREFIX, partitions: DEFAULT_PARTITIONS }
    const txns = generated(203, 3)
    await produce(redis.url, layout, txns.slice(0, 200))
    const producer = new Redis(redis.url)
    cleanups.push(async () => producer.disconnect())
    const spoiled = txns.slice(200).map((txn, i) => {
      const fields = encodeTransaction(txn)
      const amount = fields.indexOf('amount')
      fields[amount + 1] = ['-5.00', '12.345', 'lots'][i] as string
      return fields
    })
    const ids: string[] = []
    for (const [i, fields] of spoiled.entries())
      ids.push((await producer.xadd(partitionStream(layout, i), '*', ...fields)) as string)

    await waitFor(
      'the valid ones stored',
      () => storedCount(database.url),
      (n) => n >= 200,
    )
    const list = await waitFor(
      'three dead letters listed',
      () => client.pipeline.deadLetters({ limit: 2 }),
      (l) => l.total === 3,
    )
    // The newest first, limited, each with the reason, its origin and the message as it was sent.
    expect(list.entries).toHaveLength(2)
    const [newest, older] = list.entries
    expect(newest?.originalId).toBe(ids[2])
    expect(newest?.partition).toBe(2)
    expect(newest?.reason).toMatch(/amount/)
    expect(newest?.fields).toContainEqual({ name: 'amount', value: 'lots' })
    expect(newest?.fields).toContainEqual({ name: 'txn_id', value: txns[202]?.txn_id })
    expect(newest?.fields.map((field) => field.name)).not.toContain('dead_reason')
    expect(older?.originalId).toBe(ids[1])
    expect(older?.fields).toContainEqual({ name: 'amount', value: '12.345' })
    expect(Date.parse(newest?.at ?? '')).toBeGreaterThan(Date.now() - 60_000)

    // Redis gone: the list says so instead of failing the page.
    producer.disconnect()
    await redis.stop()
    const unreachable = await client.pipeline.deadLetters()
    expect(unreachable.entries).toEqual([])
    expect(unreachable.message).toBe('The dead letters could not be read from Redis: it is not reachable.')
  }, 90_000)
})
