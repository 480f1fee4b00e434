import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { partitionStream } from '../../src/main/pipeline/partitioning'
import {
  deleteKeys,
  generated,
  migratedDatabase,
  produce,
  startWorker,
  storedCount,
  testLayout,
  waitFor,
} from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * Redis keeps streams in memory: workers trim what every consumer group has acknowledged, and nothing a
 * group still has to read or acknowledge.
 */

const TRANSACTIONS = 4_000
const layout = testLayout(2)
let database: TestDatabase
const redis = new Redis(SHARED_REDIS_URL, { lazyConnect: true })

beforeAll(async () => {
  database = await createTestDatabase('aether_trim')
  await migratedDatabase(database.url)
  await redis.connect()
})

afterAll(async () => {
  redis.disconnect()
  await deleteKeys(SHARED_REDIS_URL, layout.prefix)
  await database?.drop()
})

const lengths = () => Promise.all([0, 1].map((partition) => redis.xlen(partitionStream(layout, partition))))

describe('stream trimming', () => {
  it('drops acknowledged entries, but keeps what another group has not read', async () => {
    const txns = generated(TRANSACTIONS * 2, 21)
    await produce(SHARED_REDIS_URL, layout, txns.slice(0, TRANSACTIONS))
    // A second reader of partition 1 (an audit job, say) that has not read anything yet.
    await redis.xgroup('CREATE', partitionStream(layout, 1), 'audit', '0')
    const before = await lengths()
    expect(before[0]! + before[1]!).toBe(TRANSACTIONS)

    const worker = startWorker({ postgres: { url: database.url }, redis: { url: SHARED_REDIS_URL }, layout })
    try {
      await waitFor(
        'every transaction stored',
        () => storedCount(database.url),
        (n) => n >= TRANSACTIONS,
      )
      // Partition 0 is trimmed down to the last macro node; partition 1 waits for its audit reader.
      const [first] = await waitFor('partition 0 trimmed', lengths, ([zero]) => (zero ?? 0) < 200, 30_000)
      expect(first).toBeLessThan(200)
      expect((await lengths())[1]).toBe(before[1])

      // Once the audit reader has read and acknowledged everything, partition 1 goes too.
      const read = (await redis.xreadgroup(
        'GROUP',
        'audit',
        'auditor',
        'STREAMS',
        partitionStream(layout, 1),
        '>',
      )) as [string, [string, string[]][]][]
      const ids = read[0]?.[1].map(([id]) => id) ?? []
      expect(ids).toHaveLength(before[1]!)
      await redis.xack(partitionStream(layout, 1), 'audit', ...ids)
      await waitFor('partition 1 trimmed', lengths, ([, one]) => (one ?? 0) < 200, 30_000)

      // Trimmed streams go on working: new traffic is stored as before.
      await produce(SHARED_REDIS_URL, layout, txns.slice(TRANSACTIONS))
      await waitFor(
        'the new traffic stored',
        () => storedCount(database.url),
        (n) => n >= TRANSACTIONS * 2,
      )
    } finally {
      await worker.close()
    }
  }, 120_000)
})
