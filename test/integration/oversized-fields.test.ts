import { constants } from 'node:buffer'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readDeadLetterStream } from '../../src/main/pipeline/dead-letters'
import { deadLetterStream, partitionOf, partitionStream } from '../../src/main/pipeline/partitioning'
import { RedisStreams } from '../../src/main/pipeline/redis-stream'
import { createTeamWorker } from '../../src/main/pipeline/team'
import { encodeTransaction } from '../../src/main/pipeline/wire'
import {
  expectedScoring,
  generated,
  migratedDatabase,
  pendingEntries,
  storedCount,
  storedScoring,
  testLayout,
  waitFor,
  xaddTransactions,
} from '../support/pipeline'
import { startPrivateRedis, type PrivateRedis } from '../support/private-servers'
import { createTestDatabase, type TestDatabase } from '../support/services'

/**
 * A Redis field can be 512 MiB (proto-max-bulk-len), a JavaScript string at most 2^29 - 24 characters:
 * a producer that sends a field between the two (hostile or broken) made every read of its partition
 * fail ("Cannot create a string longer than 0x1fffffe8 characters"), and the worker's recovery read it
 * again, for ever, holding up every partition read with it. Now the entry is read as bytes and refused:
 * a dead letter with its original bytes, and every other entry stored in order. On a Redis of its own
 * (the entry and its letter hold a GiB between them), the store on the shared PostgreSQL.
 */

const FIELD_BYTES = constants.MAX_STRING_LENGTH + 12
/**
 * Leases that outlast Redis itself being busy: a script that reads a 512 MiB entry blocks every client
 * for seconds (6.2 s on the 2-core CI machine, measured with a PING beside it), during which no lease
 * can be renewed, and writing its dead letter and reading its original bytes take seconds more on the
 * connection the renewals use. What a team should do about that is in docs/producer-contract.md (a
 * smaller proto-max-bulk-len); here the entry is the point, not the leases.
 */
const SLOW_REDIS_TIMING = { leaseMs: 60_000, heartbeatMs: 1000 }
const cleanups: (() => Promise<unknown>)[] = []
let server: PrivateRedis
let database: TestDatabase

beforeAll(async () => {
  server = await startPrivateRedis()
  cleanups.push(() => server.stop())
  database = await createTestDatabase('aether_oversized')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
}, 60_000)

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
}, 60_000)

describe('a field too long to be a string', () => {
  it('is a dead letter with its original bytes; the entries around it are stored in order', async () => {
    const layout = testLayout(2)
    const redis = new Redis(server.url)
    cleanups.push(async () => redis.disconnect())

    const txns = generated(60, 7)
    const partition = partitionOf(txns[0]?.user_id ?? '', layout.partitions)
    // On the first user's partition, between the others' entries: the oversized one is otherwise valid.
    const poisoned = { ...(txns[0] as (typeof txns)[number]), txn_id: randomUUID() }
    const fields = encodeTransaction(poisoned)
    const oversized = Buffer.alloc(FIELD_BYTES, 'a')
    await xaddTransactions(redis, layout, txns.slice(0, 30))
    const poisonId = (await redis.xadd(
      partitionStream(layout, partition),
      '*',
      ...fields,
      'merchant_type',
      oversized,
    )) as string
    // The replay after a checkpoint first asks XINFO STREAM, whose reply holds the newest entry: this one.
    const streams = new RedisStreams({ url: server.url }, layout, 'reader')
    cleanups.push(() => streams.close())
    expect(await streams.maxDeleted(partition)).toBe('0-0')
    await xaddTransactions(redis, layout, txns.slice(30))

    // Then it reads the entries by XRANGE: the entry comes refused, with the reason.
    const between = await streams.entriesBetween(partition, '0-0', '+', 100)
    const refused = between.find((entry) => entry.id === poisonId)
    expect(refused?.rejected).toBe(
      `field "merchant_type" holds ${FIELD_BYTES.toLocaleString('en-US')} bytes, more than can be read as text (${constants.MAX_STRING_LENGTH.toLocaleString('en-US')} characters)`,
    )
    expect(between.filter((entry) => entry.rejected === undefined)).toHaveLength(
      txns.filter((txn) => partitionOf(txn.user_id, layout.partitions) === partition).length,
    )

    const team = createTeamWorker({
      postgres: { url: database.url },
      redis: { url: server.url },
      layout,
      timing: SLOW_REDIS_TIMING,
    })
    team.worker.start()
    cleanups.push(() => team.close())
    await waitFor(
      'the 60 valid transactions stored and nothing pending',
      async () => [await storedCount(database.url), await pendingEntries(server.url, layout)],
      ([stored, pending]) => stored === 60 && pending === 0,
      120_000,
    )
    // Scored in stream order, the refused entry left out: as one worker scoring the 60 alone gives.
    await team.close()
    const expected = expectedScoring(txns)
    const stored = await storedScoring(database.url)
    expect(stored.scores).toEqual(expected.scores)
    expect(stored.states).toEqual(expected.states)

    // The letter holds the entry as the producer sent it, byte for byte, with the reason.
    const [letter] = await redis.xrangeBuffer(deadLetterStream(layout), '-', '+')
    expect(letter).toBeDefined()
    const letterFields = new Map<string, Buffer>()
    const raw = letter?.[1] ?? []
    for (let i = 0; i + 1 < raw.length; i += 2)
      letterFields.set(raw[i]?.toString() ?? '', raw[i + 1] as Buffer)
    expect(letterFields.get('merchant_type')?.equals(oversized)).toBe(true)
    expect(letterFields.get('txn_id')?.toString()).toBe(poisoned.txn_id)
    expect(letterFields.get('dead_id')?.toString()).toBe(poisonId)
    expect(letterFields.get('dead_reason')?.toString()).toBe(refused?.rejected)
    expect(await redis.xlen(deadLetterStream(layout))).toBe(1)

    // An operator reads it, the long field cut.
    const list = await readDeadLetterStream(redis, layout, 10)
    expect(list.total).toBe(1)
    expect(list.entries[0]?.reason).toBe(refused?.rejected)
    expect(list.entries[0]?.originalId).toBe(poisonId)
    const shown = list.entries[0]?.fields.find((field) => field.name === 'merchant_type')?.value
    expect(shown).toBe(`${'a'.repeat(2000)}… (${FIELD_BYTES} bytes)`)
  }, 240_000)

  it('arriving at a worker that is keeping up, is refused once and leaves the worker waiting, not spinning', async () => {
    const layout = testLayout(2)
    const redis = new Redis(server.url)
    cleanups.push(async () => redis.disconnect())
    await redis.config('RESETSTAT')
    // A store of its own: the partitions' positions and states of the test before do not carry over.
    const own = await createTestDatabase('aether_oversized')
    cleanups.push(() => own.drop())
    await migratedDatabase(own.url)
    const txns = generated(20, 8)
    await xaddTransactions(redis, layout, txns.slice(0, 10))
    const team = createTeamWorker({
      postgres: { url: own.url },
      redis: { url: server.url },
      layout,
      timing: SLOW_REDIS_TIMING,
    })
    team.worker.start()
    cleanups.push(() => team.close())
    // The store holds only this test's transactions.
    const stored = () => storedCount(own.url)
    await waitFor('the first 10 stored', stored, (n) => n === 10)

    // The newest entry of its partition, the first after what the worker has seen: its next read and
    // its wait for new entries both meet it.
    const partition = partitionOf(txns[10]?.user_id ?? '', layout.partitions)
    const id = (await redis.xadd(
      partitionStream(layout, partition),
      '*',
      ...encodeTransaction({ ...(txns[10] as (typeof txns)[number]), txn_id: randomUUID() }),
      'device_id',
      Buffer.alloc(FIELD_BYTES, 'b'),
    )) as string
    await waitFor(
      'the dead letter',
      () => redis.xlen(deadLetterStream(layout)),
      (n) => n === 1,
      120_000,
    )
    const [letter] = await redis.xrangeBuffer(deadLetterStream(layout), '-', '+')
    const fields = (letter?.[1] ?? []).map((field) => (field.length < 1000 ? field.toString() : field.length))
    expect(fields).toContain(id)
    expect(fields).toContain(FIELD_BYTES)
    expect(await pendingEntries(server.url, layout)).toBe(0)
    // Not counted as a failure: the worker read it again as bytes, as it does a redelivery.
    const status = await team.worker.status()
    expect(status.counts.errors, JSON.stringify(status)).toBe(0)

    // Idle, it waits on a blocking read (500 ms each) instead of reading the same entry again and again.
    const xreads = async () =>
      Number(/cmdstat_xread:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0)
    const before = await xreads()
    await new Promise((resolve) => setTimeout(resolve, 3000))
    expect(await xreads()).toBeLessThan(before + 30)

    await xaddTransactions(redis, layout, txns.slice(10))
    await waitFor('the other 10 stored', stored, (n) => n === 20)
  }, 240_000)
})
