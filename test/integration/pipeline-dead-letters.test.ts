import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  deadLetterStream,
  partitionOf,
  partitionStream,
  type StreamLayout,
} from '../../src/main/pipeline/partitioning'
import { encodeTransaction } from '../../src/main/pipeline/wire'
import type { Transaction } from '../../src/shared/transaction'
import {
  deleteKeys,
  expectedScoring,
  generated,
  migratedDatabase,
  pendingEntries,
  query,
  startWorker,
  storedCount,
  storedScoring,
  testLayout,
  waitFor,
} from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/** Bad messages never stop the worker and are never dropped silently: each is a dead letter with its reason. */

const VALID = 5_000
const MALFORMED = 10_000
const layout = testLayout()
let database: TestDatabase
const redis = new Redis(SHARED_REDIS_URL, { lazyConnect: true })

/** Ways a producer gets a message wrong, each with the words its dead letter must give. */
const spoilers: { reason: RegExp; spoil: (fields: string[]) => string[] }[] = [
  { reason: /txn_id/, spoil: (f) => set(f, 'txn_id', 'not-a-uuid') },
  { reason: /amount/, spoil: (f) => set(f, 'amount', '-5.00') },
  { reason: /amount/, spoil: (f) => set(f, 'amount', '12.345') },
  { reason: /currency/, spoil: (f) => set(f, 'currency', 'dollars') },
  { reason: /type/, spoil: (f) => set(f, 'type', 'REFUND') },
  { reason: /ts/, spoil: (f) => set(f, 'ts', 'yesterday') },
  { reason: /user_id/, spoil: (f) => drop(f, 'user_id') },
  { reason: /label/, spoil: (f) => set(f, 'label', 'maybe') },
  { reason: /schema version v=2/, spoil: (f) => set(f, 'v', '2') },
  { reason: /missing schema version/, spoil: (f) => drop(f, 'v') },
]

function set(fields: string[], name: string, value: string): string[] {
  const copy = [...fields]
  const index = copy.indexOf(name)
  if (index >= 0) copy[index + 1] = value
  else copy.push(name, value)
  return copy
}

function drop(fields: string[], name: string): string[] {
  const index = fields.indexOf(name)
  return index < 0 ? fields : [...fields.slice(0, index), ...fields.slice(index + 2)]
}

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

/**
 * A worker of the test's own layout runs until each of `txnIds` is stored or a dead letter and nothing
 * is pending, then stops.
 */
async function drainOwn(own: StreamLayout, txnIds: string[]): Promise<void> {
  const worker = startWorker({
    postgres: { url: database.url },
    redis: { url: SHARED_REDIS_URL },
    layout: own,
  })
  const decided = async () => (await redis.xlen(deadLetterStream(own))) + (await storedOf(txnIds))
  try {
    await waitFor('each stored or a dead letter', decided, (n) => n === txnIds.length, 60_000)
    await waitFor(
      'nothing pending',
      () => pendingEntries(SHARED_REDIS_URL, own),
      (n) => n === 0,
      60_000,
    )
  } finally {
    await worker.close()
  }
}

/** How many of `txnIds` are stored. */
async function storedOf(txnIds: string[]): Promise<number> {
  const [row] = await query<{ n: number }>(
    database.url,
    'SELECT count(*)::int AS n FROM transactions WHERE txn_id = ANY($1)',
    [txnIds],
  )
  return row?.n ?? 0
}

describe('malformed messages', () => {
  it('sends each bad message to the dead-letter stream with its reason and stores every valid one', async () => {
    const txns = generated(VALID + MALFORMED + 2, 11)
    const valid = txns.slice(0, VALID)
    // Messages the schema accepts but the store refuses, from real users: their state must not count
    // them. Validation now refuses every value PostgreSQL's types refuse (pipeline-poison.test.ts checks
    // that against PostgreSQL itself), so the team's database refuses these by a rule of its own, as a
    // DBA's CHECK constraint would.
    await query(
      database.url,
      `ALTER TABLE transactions ADD CONSTRAINT dba_rule CHECK (merchant_type IS DISTINCT FROM 'refused-by-store')`,
    )
    const refused: Transaction[] = txns.slice(VALID + MALFORMED).map((txn, i) => ({
      ...txn,
      user_id: (valid[i * 1000 + 17] as Transaction).user_id,
      merchant_type: 'refused-by-store',
    }))
    const malformed = txns.slice(VALID, VALID + MALFORMED)
    const pipeline = redis.pipeline()
    let sentBad = 0
    malformed.forEach((bad, i) => {
      const txn = valid[i / 2]
      if (i % 2 === 0 && txn !== undefined)
        pipeline.xadd(
          partitionStream(layout, partitionOf(txn.user_id, layout.partitions)),
          '*',
          ...encodeTransaction(txn),
        )
      const spoiler = spoilers[i % spoilers.length] as (typeof spoilers)[number]
      pipeline.xadd(
        partitionStream(layout, i % layout.partitions),
        '*',
        ...spoiler.spoil(encodeTransaction(bad)),
      )
      sentBad++
      const poison = refused[Math.floor(i / 4000)]
      if (i % 4000 === 3000 && poison !== undefined)
        pipeline.xadd(
          partitionStream(layout, partitionOf(poison.user_id, layout.partitions)),
          '*',
          ...encodeTransaction(poison),
        )
    })
    await pipeline.exec()
    expect(sentBad).toBe(MALFORMED)

    const worker = startWorker({ postgres: { url: database.url }, redis: { url: SHARED_REDIS_URL }, layout })
    await waitFor(
      'every valid transaction stored',
      () => storedCount(database.url),
      (n) => n >= VALID,
      150_000,
    )
    await waitFor(
      'nothing pending',
      () => pendingEntries(SHARED_REDIS_URL, layout),
      (n) => n === 0,
      150_000,
    )
    const status = await worker.worker.status()
    await worker.close()

    expect(status.state).toBe('running')
    expect(status.counts).toMatchObject({ stored: VALID, deadLetters: MALFORMED + refused.length })
    expect(status.deadLetterTotal).toBe(MALFORMED + refused.length)

    const letters = (await redis.xrange(deadLetterStream(layout), '-', '+')).map(([, fields]) => {
      const record = new Map<string, string>()
      for (let i = 0; i < fields.length; i += 2) record.set(fields[i] as string, fields[i + 1] as string)
      return record
    })
    expect(letters).toHaveLength(MALFORMED + refused.length)
    for (const letter of letters) {
      expect(letter.get('dead_reason')).toMatch(/\S/)
      expect(letter.get('dead_partition')).toMatch(/^\d+$/)
      expect(letter.get('dead_id')).toMatch(/^\d+-\d+$/)
    }
    // Each spoiled message carries its original fields and a reason naming what is wrong.
    const byTxn = new Map(letters.map((letter) => [letter.get('txn_id'), letter]))
    malformed.forEach((txn, i) => {
      const spoiler = spoilers[i % spoilers.length] as (typeof spoilers)[number]
      const letter = i % spoilers.length === 0 ? undefined : byTxn.get(txn.txn_id)
      if (letter !== undefined) expect(letter.get('dead_reason')).toMatch(spoiler.reason)
    })
    expect(letters.filter((letter) => letter.get('txn_id') === 'not-a-uuid')).toHaveLength(
      MALFORMED / spoilers.length,
    )
    for (const poison of refused)
      expect(byTxn.get(poison.txn_id)?.get('dead_reason')).toMatch(/store refused it: .*dba_rule/)

    const stored = await storedScoring(database.url)
    const expected = expectedScoring(valid)
    expect(stored.scores).toEqual(expected.scores)
    expect(stored.states).toEqual(expected.states)
  }, 180_000)

  it('stores every alerting transaction of a user whose case total passes what the column holds', async () => {
    // Each amount is within the 16 digits the contract allows; their sum on the case is not. The second
    // alert's case update overflowed numeric(18, 2), and each later transaction became a dead letter.
    const own = testLayout(1)
    const whales = generated(4, 13).map((txn) => ({
      ...txn,
      user_id: 'whale-0018',
      type: 'TRANSFER' as const,
      amount: '9000000000000000.00',
    }))
    for (const txn of whales) await redis.xadd(partitionStream(own, 0), '*', ...encodeTransaction(txn))
    await drainOwn(
      own,
      whales.map((txn) => txn.txn_id),
    )
    const [stored] = await query<{ n: number; alerts: number }>(
      database.url,
      `SELECT count(*)::int AS n, (SELECT count(*)::int FROM alerts WHERE user_id = 'whale-0018') AS alerts
         FROM transactions WHERE user_id = 'whale-0018'`,
    )
    expect(stored?.n).toBe(4)
    // At least two alerts (the rules approve some), so the case's sum passes the column's largest value.
    expect(stored?.alerts).toBeGreaterThanOrEqual(2)
    expect(await redis.xlen(deadLetterStream(own))).toBe(0)
    const [whaleCase] = await query<{ amount_at_risk: string; alert_count: number }>(
      database.url,
      `SELECT amount_at_risk::text, alert_count FROM cases WHERE user_id = 'whale-0018'`,
    )
    expect(whaleCase).toEqual({ amount_at_risk: '9999999999999999.99', alert_count: stored?.alerts })
    await deleteKeys(SHARED_REDIS_URL, own.prefix)
  }, 120_000)

  it('dead-letters an entry of 100,000 fields and stores the ones behind it', async () => {
    // Spread into one call, its dead letter's 200,000 arguments overflowed the stack: the settle failed
    // each time and the partition never got past it.
    const own = testLayout(1)
    const [bad, next, last] = generated(3, 12)
    const junk = Array.from({ length: 100_000 }, (_, i) => [`junk${i}`, 'x']).flat()
    const stream = partitionStream(own, 0)
    const spoiled = set(encodeTransaction(bad as Transaction), 'amount', '-1.00')
    await redis.call('XADD', [stream, '*'].concat(spoiled, junk))
    for (const txn of [next, last]) await redis.xadd(stream, '*', ...encodeTransaction(txn as Transaction))
    const ids = [bad, next, last].map((txn) => (txn as Transaction).txn_id)
    await drainOwn(own, ids)
    // Both transactions behind it stored.
    expect(await storedOf(ids.slice(1))).toBe(2)
    const [letter] = await redis.xrange(deadLetterStream(own), '-', '+')
    const fields = letter?.[1] ?? []
    expect(fields[fields.indexOf('dead_reason') + 1]).toMatch(/amount/)
    expect(fields.length).toBeGreaterThan(200_000)
    await deleteKeys(SHARED_REDIS_URL, own.prefix)
  }, 120_000)
})
