import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { API_KEY_FIELD } from '../../src/main/pipeline/decision-replies'
import { deadLetterStream, partitionOf, partitionStream } from '../../src/main/pipeline/partitioning'
import { encodeTransaction } from '../../src/main/pipeline/wire'
import type { Transaction } from '../../src/shared/transaction'
import {
  deleteKeys,
  generated,
  migratedDatabase,
  pendingEntries,
  query,
  startWorker,
  storedCount,
  testLayout,
  waitFor,
} from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * The API key that sent a transaction (the gateway's `api_key` entry field) is stored with it, in small
 * batches (unnest) and big ones (COPY) alike; an entry without one stores NULL; an entry whose api_key
 * is not a key id is a dead letter saying so, and the rest of its batch is stored.
 */

const layout = testLayout()
let database: TestDatabase
const redis = new Redis(SHARED_REDIS_URL, { lazyConnect: true })

beforeAll(async () => {
  database = await createTestDatabase('aether_pipe')
  await migratedDatabase(database.url)
  await redis.connect()
})

afterAll(async () => {
  redis.disconnect()
  await deleteKeys(SHARED_REDIS_URL, layout.prefix)
  await database?.drop()
})

const MALFORMED = ['4x2', '', '-1', '9223372036854775808', '42.0', '１２']

async function send(entries: { txn: Transaction; apiKey?: string }[]) {
  const pipeline = redis.pipeline()
  for (const { txn, apiKey } of entries) {
    const fields = encodeTransaction(txn)
    if (apiKey !== undefined) fields.push(API_KEY_FIELD, apiKey)
    pipeline.xadd(partitionStream(layout, partitionOf(txn.user_id, layout.partitions)), '*', ...fields)
  }
  await pipeline.exec()
}

const storedKeys = async () =>
  new Map(
    (
      await query<{ txn_id: string; api_key_id: string | null }>(
        database.url,
        'SELECT txn_id::text, api_key_id::text FROM transactions',
      )
    ).map((row) => [row.txn_id, row.api_key_id]),
  )

describe('the API key a transaction came with', () => {
  it('is stored with it; none stays NULL; a malformed one is a dead letter', async () => {
    const txns = generated(3_000 + MALFORMED.length, 77)
    // First a few entries on their own (small batches), then a backlog (batches written by COPY).
    const small = txns.slice(0, 3)
    const big = txns.slice(3, 3_000)
    const bad = txns.slice(3_000)
    const keyOf = (index: number) =>
      index % 3 === 0 ? '42' : index % 3 === 1 ? undefined : index === 2 ? '9223372036854775807' : '7'
    await send(small.map((txn, i) => ({ txn, apiKey: keyOf(i) })))
    const worker = startWorker({ postgres: { url: database.url }, redis: { url: SHARED_REDIS_URL }, layout })
    try {
      await waitFor(
        'the first entries stored',
        () => storedCount(database.url),
        (n) => n >= small.length,
      )
      await send([
        ...big.map((txn, i) => ({ txn, apiKey: keyOf(i + small.length) })),
        ...bad.map((txn, i) => ({ txn, apiKey: MALFORMED[i] as string })),
      ])
      await waitFor(
        'every entry handled',
        async () => ({
          stored: await storedCount(database.url),
          pending: await pendingEntries(SHARED_REDIS_URL, layout),
          letters: await redis.xlen(deadLetterStream(layout)),
        }),
        (seen) =>
          seen.stored >= small.length + big.length && seen.pending === 0 && seen.letters >= bad.length,
        120_000,
      )
      const status = await worker.worker.status()
      expect(status.counts).toMatchObject({ stored: small.length + big.length, deadLetters: bad.length })
    } finally {
      await worker.close()
    }

    const stored = await storedKeys()
    expect(stored.size).toBe(small.length + big.length)
    ;[...small, ...big].forEach((txn, i) => {
      expect(stored.get(txn.txn_id), txn.txn_id).toBe(keyOf(i) ?? null)
    })
    expect(stored.get((small[0] as Transaction).txn_id)).toBe('42')
    expect(stored.get((small[1] as Transaction).txn_id)).toBeNull()
    expect(stored.get((small[2] as Transaction).txn_id)).toBe('9223372036854775807')

    const letters = (await redis.xrange(deadLetterStream(layout), '-', '+')).map(([, fields]) => {
      const record = new Map<string, string>()
      for (let i = 0; i < fields.length; i += 2) record.set(fields[i] as string, fields[i + 1] as string)
      return record
    })
    expect(letters.map((letter) => letter.get('txn_id')).sort()).toEqual(bad.map((txn) => txn.txn_id).sort())
    for (const letter of letters) {
      expect(letter.get('dead_reason')).toMatch(/^api_key: /)
      // The original entry goes with it, its api_key as sent.
      expect(MALFORMED).toContain(letter.get(API_KEY_FIELD))
    }
  }, 180_000)
})
