import { afterAll, describe, expect, it, vi } from 'vitest'
import { CONSUMER_GROUP, partitionLease, partitionStream } from '../../src/main/pipeline/partitioning'
import { FENCED_READ, JSON_READ_LIMIT, RedisStreams } from '../../src/main/pipeline/redis-stream'
import { preparedLayout } from '../support/pipeline'
import { SHARED_REDIS_URL } from '../support/services'

/**
 * A worker reads a partition's new entries as one JSON text, or, where their values are too many bytes
 * for one string, as bulk strings: either way it is given what the stream holds, byte for byte as a
 * bulk string reads it.
 */

const cleanups: (() => Promise<unknown>)[] = []

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

/** Values a producer may send, kind or not: each must reach the worker as XRANGE gives it. */
const HOSTILE: (string | Buffer)[] = [
  'plain',
  '',
  'say "hi" \\ back\\slash',
  '{"json":[1,2]}',
  'line\u2028separator\u2029',
  'tab\there\nnewline\rreturn',
  '\u0000\u0001\u001f\u007f',
  'naïve — 東京 🚀',
  '1e5',
  '007',
  '-0',
  'null',
  Buffer.from([0x43, 0xff, 0xfe, 0x39]),
  Buffer.from([0xc3, 0x28, 0xe2, 0x82]),
  'x'.repeat(3000),
]

async function streamWithEntries() {
  const { layout, redis } = await preparedLayout(cleanups, 2)
  const stream = partitionStream(layout, 0)
  for (const [index, value] of HOSTILE.entries())
    await redis.xadd(stream, '*', 'txn_id', `t-${index}`, 'merchant_type', value, value, 'as a name')
  await redis.set(partitionLease(layout, 0), 'token-0')
  return { layout, redis, stream }
}

describe('reading new entries', () => {
  it('gives every entry as XRANGE does, as one JSON text and as bulk strings past the size limit', async () => {
    const { layout, redis, stream } = await streamWithEntries()
    const expected = (await redis.xrange(stream, '-', '+')).map(([id, fields]) => ({ id, fields }))
    expect(expected).toHaveLength(HOSTILE.length)
    // The default limit (one JSON text, parsed once), then one the 3,000-byte value is over (bulk strings).
    for (const { limit, parsed } of [
      { limit: JSON_READ_LIMIT, parsed: 1 },
      { limit: 1000, parsed: 0 },
    ]) {
      const streams = new RedisStreams({ url: SHARED_REDIS_URL }, layout, `reader-${limit}`, undefined, limit)
      const parse = vi.spyOn(JSON, 'parse')
      try {
        await redis.call('XGROUP', 'SETID', stream, CONSUMER_GROUP, '0')
        const [read] = await streams.readFenced([
          { partition: 0, token: 'token-0', mode: 'new', count: 100, cursor: '' },
        ])
        expect(parse).toHaveBeenCalledTimes(parsed)
        expect(read?.entries.map(({ id, fields }) => ({ id, fields }))).toEqual(expected)
      } finally {
        parse.mockRestore()
        await streams.close()
      }
    }
  })

  it('brings a read over the limit as the entries themselves, and one within it as a JSON text', async () => {
    const { redis, stream, layout } = await streamWithEntries()
    redis.defineCommand('fencedReadForTest', { numberOfKeys: 2, lua: FENCED_READ })
    const read = (limit: number) =>
      (
        redis as unknown as {
          fencedReadForTest: (...args: (string | number)[]) => Promise<[number, unknown]>
        }
      ).fencedReadForTest(
        partitionLease(layout, 0),
        stream,
        'token-0',
        CONSUMER_GROUP,
        'test',
        'new',
        100,
        '',
        limit,
      )
    await redis.call('XGROUP', 'SETID', stream, CONSUMER_GROUP, '0')
    const within = await read(JSON_READ_LIMIT)
    expect(within[0]).toBe(1)
    expect(typeof within[1]).toBe('string')
    await redis.call('XGROUP', 'SETID', stream, CONSUMER_GROUP, '0')
    const over = await read(1000)
    expect(over[0]).toBe(2)
    expect(over[1]).toHaveLength(HOSTILE.length)
    // Nothing new to read: an empty text either way.
    expect(await read(1000)).toEqual([1, ''])
  })
})
