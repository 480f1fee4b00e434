import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { CONSUMER_GROUP, deadLetterStream, partitionOf } from '../../src/main/pipeline/partitioning'
import { decodeTransaction } from '../../src/main/pipeline/wire'
import {
  deleteKeys,
  migratedDatabase,
  query,
  startWorker,
  storedCount,
  testLayout,
  waitFor,
} from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL } from '../support/services'

/**
 * docs/producer-contract.md stays true: its worked partition examples, its Python snippet's checks and its
 * redis-cli example are run here, the example through redis-cli against a real Redis and a real worker.
 */

const run = promisify(execFile)
const doc = readFileSync('docs/producer-contract.md', 'utf8')
const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

/** Splits a shell command line as sh would for the quoting the page uses (single quotes, plain words). */
function shellWords(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((match) => match[1] ?? (match[2] as string))
}

const example = doc.split('\n').find((line) => line.startsWith('redis-cli ') && line.includes(' XADD '))
const words = shellWords(example ?? '')
const [, , documentedUrl, command, key, id, ...fields] = words

describe('docs/producer-contract.md', () => {
  it('gives worked partition examples that partitionOf computes', () => {
    const rows = [
      ...doc.matchAll(/^\| `([^`]+)`\s*\|[^|]*\| `0x([0-9a-f]{8})` \((\d+)\)\s*\|\s*(\d+)\s*\|$/gm),
    ]
    expect(rows.length).toBeGreaterThanOrEqual(3)
    for (const [, user, hex, decimal, partition] of rows) {
      const hash = partitionOf(user as string, 2 ** 32)
      expect(hash, user).toBe(Number.parseInt(hex as string, 16))
      expect(hash, user).toBe(Number(decimal))
      expect(partitionOf(user as string, 8), user).toBe(Number(partition))
    }
    const asserted = [...doc.matchAll(/partition_of\("([^"]+)"\) == (\d+)/g)]
    expect(asserted.length).toBeGreaterThanOrEqual(2)
    for (const [, user, partition] of asserted) expect(partitionOf(user as string, 8)).toBe(Number(partition))
  })

  it('has a redis-cli example whose entry is a valid transaction on its user’s partition', () => {
    expect(example).toBeDefined()
    expect([command, id, documentedUrl]).toEqual(['XADD', '*', 'redis://redis.example:6379'])
    const decoded = decodeTransaction(fields)
    expect(decoded).toMatchObject({ ok: true })
    if (!decoded.ok) return
    expect(key).toBe(`aether:tx:{p${partitionOf(decoded.txn.user_id, 8)}}`)
  })

  it('stores the example transaction when sent with redis-cli to a running worker', async () => {
    const layout = testLayout()
    cleanups.push(() => deleteKeys(SHARED_REDIS_URL, layout.prefix))
    const database = await createTestDatabase('aether_contract')
    cleanups.push(() => database.drop())
    await migratedDatabase(database.url)
    const worker = startWorker({ postgres: { url: database.url }, redis: { url: SHARED_REDIS_URL }, layout })
    cleanups.push(() => worker.close())

    // The page's command as written, with the test's prefix instead of aether: and the shared Redis.
    const args = [
      '-u',
      SHARED_REDIS_URL,
      command as string,
      (key as string).replace(/^aether:/, layout.prefix),
    ]
    const { stdout } = await run('redis-cli', [...args, id as string, ...fields])
    expect(stdout.trim()).toMatch(/^\d+-\d+$/)

    await waitFor(
      'the example stored',
      () => storedCount(database.url),
      (n) => n >= 1,
    )
    // Only the example's partition stream exists: its entry is acknowledged.
    const redis = new Redis(SHARED_REDIS_URL)
    cleanups.push(async () => redis.disconnect())
    const stream = (key as string).replace(/^aether:/, layout.prefix)
    await waitFor(
      'the entry acknowledged',
      async () => Number(((await redis.xpending(stream, CONSUMER_GROUP)) as [number])[0]),
      (n) => n === 0,
    )
    const record = Object.fromEntries(
      Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]]),
    )
    const [row] = await query<{ txn_id: string; user_id: string; amount: string; score: number }>(
      database.url,
      'SELECT t.txn_id::text, t.user_id, t.amount::text, s.score FROM transactions t JOIN scores s USING (txn_id)',
    )
    expect(row).toMatchObject({ txn_id: record.txn_id, user_id: record.user_id, amount: record.amount })
    expect(typeof row?.score).toBe('number')
    expect(await redis.xlen(deadLetterStream(layout))).toBe(0)
    await worker.close()
  }, 90_000)
})
