import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CONSUMER_GROUP, deadLetterStream, partitionStream } from '../../src/main/pipeline/partitioning'
import { RedisStreams } from '../../src/main/pipeline/redis-stream'
import {
  deleteKeys,
  generated,
  migratedDatabase,
  produce,
  spawnWorker,
  startWorker,
  storedCount,
  testLayout,
  waitFor,
} from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * Redis keeps streams in memory: workers trim what every consumer group has acknowledged, and nothing a
 * group still has to read or acknowledge. Dead letters are kept by a count and an age.
 */

const TRANSACTIONS = 4_000
const HOUR = 3_600_000
/** Redis trims approximately, whole macro nodes of at most this many entries (stream-node-max-entries). */
const NODE = 100
const layout = testLayout(2)
/** Partitions trimmed directly, one scenario each. */
const direct = testLayout(16)
const cliLayout = testLayout(1)
let database: TestDatabase
const redis = new Redis(SHARED_REDIS_URL, { lazyConnect: true })

beforeAll(async () => {
  database = await createTestDatabase('aether_trim')
  await migratedDatabase(database.url)
  await redis.connect()
})

afterAll(async () => {
  redis.disconnect()
  for (const prefix of [layout.prefix, direct.prefix, cliLayout.prefix])
    await deleteKeys(SHARED_REDIS_URL, prefix)
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

describe('what a trim may drop', () => {
  const streams = new RedisStreams({ url: SHARED_REDIS_URL }, direct, 'trim-test')
  afterAll(() => streams.close())

  /** Adds `count` entries to a partition's stream; returns their ids, oldest first. */
  async function fill(partition: number, count: number): Promise<string[]> {
    const ids: string[] = []
    for (let from = 0; from < count; from += 5000) {
      const pipeline = redis.pipeline()
      for (let i = from; i < Math.min(count, from + 5000); i++)
        pipeline.xadd(partitionStream(direct, partition), '*', 'n', String(i))
      for (const [error, id] of (await pipeline.exec()) ?? []) {
        if (error) throw error
        ids.push(id as string)
      }
    }
    return ids
  }
  const group = (partition: number, name: string, from = '0') =>
    redis.xgroup('CREATE', partitionStream(direct, partition), name, from)
  /** Delivers the next `count` entries to the group (one consumer); returns their ids. */
  async function deliver(partition: number, name: string, count: number): Promise<string[]> {
    const reply = (await redis.xreadgroup(
      'GROUP',
      name,
      `${name}-consumer`,
      'COUNT',
      count,
      'STREAMS',
      partitionStream(direct, partition),
      '>',
    )) as [string, [string, string[]][]][] | null
    return reply?.[0]?.[1].map(([id]) => id) ?? []
  }
  const ack = (partition: number, name: string, ids: string[]) =>
    redis.xack(partitionStream(direct, partition), name, ...ids)
  const remaining = async (partition: number) =>
    ((await redis.xrange(partitionStream(direct, partition), '-', '+')) as [string, string[]][]).map(
      ([id]) => id,
    )
  /**
   * Everything from `ids[from]` on is still there, in order; what is left before it is less than one
   * macro node (Redis drops only whole nodes).
   */
  async function expectKeptFrom(partition: number, ids: string[], from: number) {
    const left = await remaining(partition)
    const start = ids.length - left.length
    expect(left).toEqual(ids.slice(start))
    expect(start).toBeLessThanOrEqual(from)
    expect(start).toBeGreaterThan(from - NODE)
  }

  it('leaves a stream whole without the workers’ group, or while a group has read nothing', async () => {
    // No group at all: nobody has read anything.
    const none = await fill(0, 500)
    // Only an operator's group, done with everything: a worker group created later from 0 expects all.
    const operatorOnly = await fill(1, 500)
    await group(1, 'audit')
    await ack(1, 'audit', await deliver(1, 'audit', 500))
    // The workers are done, an operator's group exists but has read nothing yet.
    const emptyGroup = await fill(2, 500)
    await group(2, CONSUMER_GROUP)
    await ack(2, CONSUMER_GROUP, await deliver(2, CONSUMER_GROUP, 500))
    await group(2, 'audit')
    expect(await streams.trim([0, 1, 2])).toBe(0)
    expect(await remaining(0)).toEqual(none)
    expect(await remaining(1)).toEqual(operatorOnly)
    expect(await remaining(2)).toEqual(emptyGroup)
  })

  it('keeps every entry pending in a group after a crash, and every one not yet delivered', async () => {
    // The workers' consumer crashed with 800 delivered and not acknowledged; 1,000 never delivered.
    const ids = await fill(3, 3000)
    await group(3, CONSUMER_GROUP)
    const delivered = await deliver(3, CONSUMER_GROUP, 2000)
    await ack(3, CONSUMER_GROUP, delivered.slice(0, 1200))
    expect(await streams.trim([3])).toBeGreaterThan(0)
    await expectKeptFrom(3, ids, 1200)

    // Everything delivered acknowledged: what follows the last delivered entry stays.
    await ack(3, CONSUMER_GROUP, delivered)
    await streams.trim([3])
    await expectKeptFrom(3, ids, 2000)

    // All read and acknowledged: nothing left.
    await ack(3, CONSUMER_GROUP, await deliver(3, CONSUMER_GROUP, 1000))
    await streams.trim([3])
    expect(await remaining(3)).toEqual([])
  })

  it('waits for the slowest group: an operator’s group that lags and crashed with entries pending', async () => {
    const ids = await fill(4, 3000)
    await group(4, CONSUMER_GROUP)
    await ack(4, CONSUMER_GROUP, await deliver(4, CONSUMER_GROUP, 3000))
    await group(4, 'audit')
    const audited = await deliver(4, 'audit', 1000)
    await ack(4, 'audit', audited.slice(0, 600))
    await streams.trim([4])
    await expectKeptFrom(4, ids, 600)

    // The audit job comes back, takes over what its crashed consumer held, and catches up.
    const [, claimed] = (await redis.xautoclaim(
      partitionStream(direct, 4),
      'audit',
      'audit-again',
      0,
      '0-0',
      'COUNT',
      1000,
    )) as [string, [string, string[]][]]
    expect(claimed.map(([id]) => id)).toEqual(audited.slice(600))
    await ack(4, 'audit', audited.slice(600))
    await streams.trim([4])
    await expectKeptFrom(4, ids, 1000)
  })

  it('keeps what a group moved back will read again, and treats entries before a `$` group as given', async () => {
    // An operator moves the workers' group back to re-read from entry 500, while 1,000 are pending.
    const ids = await fill(5, 3000)
    await group(5, CONSUMER_GROUP)
    const delivered = await deliver(5, CONSUMER_GROUP, 2000)
    await ack(5, CONSUMER_GROUP, delivered.slice(0, 1000))
    await redis.xgroup('SETID', partitionStream(direct, 5), CONSUMER_GROUP, ids[499]!)
    await streams.trim([5])
    await expectKeptFrom(5, ids, 500)

    // A group created at `$` starts after what the stream held: Redis never gives it the older entries.
    const before = await fill(6, 1000)
    await group(6, CONSUMER_GROUP)
    await ack(6, CONSUMER_GROUP, await deliver(6, CONSUMER_GROUP, 1000))
    await group(6, 'tail', '$')
    const after = await fill(6, 500)
    await ack(6, CONSUMER_GROUP, await deliver(6, CONSUMER_GROUP, 500))
    await streams.trim([6])
    await expectKeptFrom(6, [...before, ...after], 1000)
  })

  it('trims a backlog larger than one call in one trim, and goes past a partition it cannot trim', async () => {
    // 25,000 acknowledged at once (a lagging group caught up): Redis drops 10,000 a call by default.
    await fill(7, 25_000)
    await group(7, CONSUMER_GROUP)
    await ack(7, CONSUMER_GROUP, await deliver(7, CONSUMER_GROUP, 25_000))
    // Partition 8's key holds something else: its failure is reported, partition 7 is still trimmed.
    await redis.set(partitionStream(direct, 8), 'not a stream')
    await expect(streams.trim([8, 7])).rejects.toThrow(/WRONGTYPE/)
    expect(await remaining(7)).toEqual([])
    // A partition whose stream was deleted is nothing to trim, not a failure.
    await redis.del(partitionStream(direct, 8))
    expect(await streams.trim([8, 7])).toBe(0)
  })

  it('keeps what follows the users’ states’ checkpoint, acknowledged or not, until a later one', async () => {
    // All read and acknowledged, but the partition's users' states are stored only up to entry 1,500:
    // a new owner would replay the rest into them.
    const ids = await fill(9, 3000)
    await group(9, CONSUMER_GROUP)
    await ack(9, CONSUMER_GROUP, await deliver(9, CONSUMER_GROUP, 3000))
    await streams.trim([9], new Map([[9, ids[1499] as string]]))
    await expectKeptFrom(9, ids, 1500)
    // The replay reads them as they are, after the checkpoint and up to the position.
    const between = await streams.entriesBetween(9, ids[1499] as string, ids[2499] as string, 5000)
    expect(between.map((entry) => entry.id)).toEqual(ids.slice(1500, 2500))
    // An entry deleted by hand (XDEL) is one a replay would miss: the stream tells (Redis 7).
    await redis.xdel(partitionStream(direct, 9), ids[2000] as string)
    expect(await streams.maxDeleted(9)).toBe(ids[2000])
    // A checkpoint at the end: the acknowledgements decide again.
    await streams.trim([9], new Map([[9, ids[2999] as string]]))
    expect(await remaining(9)).toEqual([])
  })
})

describe('dead-letter retention', () => {
  const deadKey = deadLetterStream(direct)
  const letter = (n: number) => ({ partition: 0, id: `1-${n}`, fields: ['n', String(n)], reason: 'test' })
  const kept = async (key: string) =>
    ((await redis.xrange(key, '-', '+')) as [string, string[]][]).map(([, fields]) => {
      const at = fields.indexOf('dead_id')
      return at < 0 ? (fields[1] as string) : (fields[at + 1] as string)
    })

  it('keeps the newest letters up to the count, and none older than the age', async () => {
    const streams = new RedisStreams({ url: SHARED_REDIS_URL }, direct, 'dead-test', {
      keep: 5,
      maxAgeMs: 24 * HOUR,
    })
    try {
      // By count, at each write: twelve letters, the newest five kept.
      await streams.settle(
        new Map(),
        Array.from({ length: 12 }, (_, n) => letter(n)),
      )
      expect(await kept(deadKey)).toEqual(['1-7', '1-8', '1-9', '1-10', '1-11'])

      // By age, at each trim: Redis's clock decides (a letter's id is the time it was added).
      await redis.del(deadKey)
      const now = Date.now()
      await redis.xadd(deadKey, `${now - 72 * HOUR}-0`, 'n', '72 hours old')
      await redis.xadd(deadKey, `${now - 25 * HOUR}-0`, 'n', '25 hours old')
      await redis.xadd(deadKey, `${now - 23 * HOUR}-0`, 'n', '23 hours old')
      await redis.xadd(deadKey, '*', 'n', 'new')
      await streams.trim([])
      expect(await kept(deadKey)).toEqual(['23 hours old', 'new'])
    } finally {
      await streams.close()
    }
    expect(
      () => new RedisStreams({ url: SHARED_REDIS_URL }, direct, 'x', { keep: 0, maxAgeMs: HOUR }),
    ).toThrow(/at least 1/)
  })

  it('`aether worker --dead-letters-keep 3 --dead-letters-max-age 24` applies both', async () => {
    const stream = partitionStream(cliLayout, 0)
    const deadKey = deadLetterStream(cliLayout)
    // A letter from two days ago, then two entries that are no transaction.
    await redis.xadd(deadKey, `${Date.now() - 48 * HOUR}-0`, 'n', 'two days old')
    const bad = async () =>
      redis.xadd(stream, '*', 'v', '1', 'txn_id', 'not a transaction') as Promise<string>
    const first = [await bad(), await bad()]
    const worker = spawnWorker([
      '--postgres-url',
      database.url,
      '--redis-url',
      SHARED_REDIS_URL,
      '--prefix',
      cliLayout.prefix,
      '--partitions',
      '1',
      '--dead-letters-keep',
      '3',
      '--dead-letters-max-age',
      '24',
    ])
    try {
      // Three letters fit the count: the old one goes by its age alone.
      await waitFor(
        'the old letter dropped by age',
        () => kept(deadKey),
        (ids) => ids.join() === first.join(),
      )
      // Two more: the count keeps the newest three.
      const second = [await bad(), await bad()]
      await waitFor(
        'the newest three kept',
        () => kept(deadKey),
        (ids) => ids.join() === [first[1], ...second].join(),
      )
    } finally {
      worker.child.kill('SIGTERM')
      expect(await worker.exited, worker.output()).toBe(0)
    }
  }, 120_000)
})
