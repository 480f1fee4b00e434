import { randomBytes, randomUUID } from 'node:crypto'
import { appendFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import {
  deadLetterStream,
  partitionOf,
  partitionStream,
  type StreamLayout,
} from '../../src/main/pipeline/partitioning'
import { RedisStreams } from '../../src/main/pipeline/redis-stream'
import { createTeamWorker, type TeamWorker } from '../../src/main/pipeline/team'
import { migrateToLatest } from '../../src/main/store/migrate'
import { openPostgresStore } from '../../src/main/store/store'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'
import type { AttemptRecord } from './support/attempts'
import { seeded } from '../support/seeded'

/**
 * 10⁵ randomly malformed transactions, mixed with valid ones, through the real pipeline (Redis
 * Streams → validation → PostgreSQL): nothing crashes, every malformed message lands in the dead-letter
 * stream with a reason naming what is wrong and its original bytes, every valid one is stored.
 */

const MALFORMED = 100_000
const VALID = 10_000
const SEED = Number(process.env.AETHER_SECURITY_SEED ?? randomBytes(4).readUInt32LE())

const random = seeded(SEED)

type Value = string | Buffer
interface Message {
  probe: string
  fields: Record<string, Value>
  /** What was broken, for malformed messages: the field the dead-letter reason must name. */
  broken?: { kind: string; field: string }
}

const TYPES = ['PAYMENT', 'TRANSFER', 'CASH_OUT', 'CASH_IN', 'DEBIT']
const REQUIRED = ['v', 'txn_id', 'ts', 'user_id', 'counterparty_id', 'type', 'amount', 'currency']

function validFields(): Record<string, Value> {
  return {
    v: '1',
    txn_id: randomUUID(),
    ts: new Date(Date.UTC(2024, 0, 1) + random.below(86_400_000)).toISOString(),
    user_id: `C${random.below(5000)}`,
    counterparty_id: `M${random.below(5000)}`,
    type: random.pick(TYPES),
    amount: `${1 + random.below(99_999)}.${String(random.below(100)).padStart(2, '0')}`,
    currency: 'USD',
    ...(random.below(2) === 0
      ? { source_ip: `10.${random.below(256)}.${random.below(256)}.${random.below(256)}` }
      : {}),
    ...(random.below(2) === 0 ? { device_id: `dev-${random.below(1000)}` } : {}),
  }
}

const WRONG_TYPES: Record<string, readonly string[]> = {
  v: ['2', 'one', ''],
  txn_id: ['not-a-uuid', '12345', '', '{"$gt": ""}'],
  // The last two are valid ISO times outside the plausible window (PostgreSQL refuses year 0000).
  ts: ['yesterday', '1699999999', '2024-13-45T99:99:99Z', '', '0000-01-01T00:00:00Z', '2999-01-01T00:00:00Z'],
  type: ['WIRE', 'payment', '', 'TRANSFER; DROP TABLE transactions'],
  amount: ['abc', '12,50', '', 'null', '[1]'],
  currency: ['usd', 'EURO', '12', ''],
  user_id: [''],
  counterparty_id: [''],
  label: ['maybe', '1', 'TRUE'],
  source_ip: ['999.1.1.1', 'localhost', '10.0.0.1/8', ''],
  balance_before: ['lots', '1e3', ''],
  cp_balance_after: ['-', 'NaN'],
}
const BAD_AMOUNTS = [
  '-5.00',
  '0',
  '0.00',
  '-0.01',
  '1e308',
  'Infinity',
  'NaN',
  '99999999999999999.99',
  '1.999',
  '0x10',
  ' 5.00',
  '+5',
]
const HUGE_FIELDS = [
  'txn_id',
  'user_id',
  'counterparty_id',
  'merchant_type',
  'device_id',
  'currency',
  'amount',
  'type',
]
const TEXT_FIELDS = ['user_id', 'counterparty_id', 'merchant_type', 'device_id']
const INVALID_UTF8 = [
  [0xc3, 0x28],
  [0xff],
  [0xfe, 0xfe, 0xff, 0xff],
  [0xed, 0xa0, 0x80],
  [0xc0, 0xaf],
  [0xe2, 0x82],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
]

function malformed(probe: string): Message {
  const fields = validFields()
  const kind = random.pick([
    'missing',
    'wrong type',
    'huge string',
    'invalid UTF-8',
    'bad amount',
    'control character',
  ] as const)
  switch (kind) {
    case 'missing': {
      const field = random.pick(REQUIRED)
      delete fields[field]
      return { probe, fields, broken: { kind, field } }
    }
    case 'wrong type': {
      const field = random.pick(Object.keys(WRONG_TYPES))
      fields[field] = random.pick(WRONG_TYPES[field] ?? [])
      return { probe, fields, broken: { kind, field } }
    }
    case 'huge string': {
      const field = random.pick(HUGE_FIELDS)
      // A few of a mebibyte, the rest a few kilobytes: enough to find a missing bound, kind to shared Redis.
      const length = random.below(200) === 0 ? 1024 * 1024 : 200 + random.below(4000)
      fields[field] = 'A'.repeat(length)
      return { probe, fields, broken: { kind, field } }
    }
    case 'invalid UTF-8': {
      const field = random.pick(TEXT_FIELDS)
      fields[field] = Buffer.concat([
        Buffer.from('C'),
        Buffer.from(random.pick(INVALID_UTF8)),
        Buffer.from('9'),
      ])
      return { probe, fields, broken: { kind, field } }
    }
    case 'bad amount':
      fields.amount = random.pick(BAD_AMOUNTS)
      return { probe, fields, broken: { kind, field: 'amount' } }
    case 'control character': {
      // NUL made PostgreSQL refuse the batch that held it, and the worker retry it for ever.
      const field = random.pick(TEXT_FIELDS)
      fields[field] =
        `C${random.pick(['\u0000', '\t', '\n', '\u001b', '\u007f', '\u0085'])}${random.below(100)}`
      return { probe, fields, broken: { kind, field } }
    }
  }
}

let database: TestDatabase
let redis: Redis
let worker: TeamWorker
const layout: StreamLayout = { prefix: `aether:sec-${randomBytes(4).toString('hex')}:`, partitions: 4 }
const messages: Message[] = []

async function produce() {
  const streams = new RedisStreams({ url: SHARED_REDIS_URL }, layout, 'security-producer')
  await streams.prepareForProducing()
  await streams.close()
  let validLeft = VALID
  for (let i = 0; i < MALFORMED + VALID; i++) {
    const probe = String(i)
    const valid = random.below(MALFORMED + VALID - i) < validLeft
    if (valid) validLeft--
    messages.push(valid ? { probe, fields: validFields() } : malformed(probe))
  }
  for (let start = 0; start < messages.length; start += 1000) {
    const pipeline = redis.pipeline()
    for (const message of messages.slice(start, start + 1000)) {
      const user = message.fields.user_id
      const partition =
        typeof user === 'string' ? partitionOf(user, layout.partitions) : random.below(layout.partitions)
      pipeline.xadd(
        partitionStream(layout, partition),
        '*',
        'probe',
        message.probe,
        ...Object.entries(message.fields).flat(),
      )
    }
    await pipeline.exec()
  }
}

/** Every key of this run, removed afterwards; the shared Redis is never flushed. */
async function removeKeys() {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${layout.prefix}*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await redis.del(...keys)
  } while (cursor !== '0')
}

beforeAll(async () => {
  database = await createTestDatabase('aether_sec_stream')
  const owner = openPostgresStore({ connectionString: database.url })
  await migrateToLatest(owner).finally(() => owner.close())
  redis = new Redis(SHARED_REDIS_URL)
  await produce()
  worker = createTeamWorker({
    postgres: { url: database.url },
    redis: { url: SHARED_REDIS_URL },
    layout,
    maxBatch: 2000,
  })
  worker.worker.start()
})

afterAll(async () => {
  await worker?.close()
  if (redis !== undefined) {
    await removeKeys()
    redis.disconnect()
  }
  await database?.drop()
})

/** The worker has settled every message: each is stored, a duplicate, or a dead letter. */
async function settled() {
  const counters = worker.worker.counters
  while (counters.stored + counters.duplicates + counters.deadLetters < messages.length)
    await new Promise((resolve) => setTimeout(resolve, 200))
}

interface DeadLetterEntry {
  probe: string
  reason: string
  fields: Map<string, Buffer>
}

async function deadLetters(): Promise<Map<string, DeadLetterEntry>> {
  const found = new Map<string, DeadLetterEntry>()
  let start = '-'
  for (;;) {
    const page = await redis.xrangeBuffer(deadLetterStream(layout), start, '+', 'COUNT', 5000)
    for (const [, raw] of page) {
      const fields = new Map<string, Buffer>()
      for (let i = 0; i + 1 < raw.length; i += 2) fields.set(String(raw[i]), raw[i + 1] as Buffer)
      const probe = fields.get('probe')?.toString() ?? ''
      found.set(probe, { probe, reason: fields.get('dead_reason')?.toString() ?? '', fields })
    }
    if (page.length < 5000) return found
    start = `(${String(page.at(-1)?.[0])}`
  }
}

describe(`${MALFORMED.toLocaleString('en')} malformed stream messages (seed ${SEED})`, () => {
  it('are each refused into the dead-letter stream with a reason and their original bytes; every valid one is stored', async () => {
    await settled()
    const dead = await deadLetters()
    const client = new pg.Client({ connectionString: database.url })
    await client.connect()
    const stored = new Set<string>()
    try {
      const { rows } = await client.query<{ txn_id: string }>('SELECT txn_id::text FROM transactions')
      for (const row of rows) stored.add(row.txn_id)
    } finally {
      await client.end()
    }

    const records: AttemptRecord[] = []
    for (const message of messages) {
      if (message.broken === undefined) continue
      const { kind, field } = message.broken
      const letter = dead.get(message.probe)
      const txnId = message.fields.txn_id
      const slippedIn = typeof txnId === 'string' && stored.has(txnId)
      const original = message.fields[field]
      const bytesKept =
        original === undefined || letter?.fields.get(field)?.equals(Buffer.from(original)) === true
      const refused = letter !== undefined && !slippedIn && letter.reason.includes(field) && bytesKept
      records.push({
        attempt: `stream: a message with ${kind === 'missing' ? 'no' : `a ${kind} in`} ${field}`,
        refused,
        detail:
          letter === undefined
            ? `not in the dead-letter stream${slippedIn ? '; stored as a transaction' : ''}`
            : `dead letter "${letter.reason.slice(0, 120)}"${bytesKept ? '' : ', original bytes not kept'}${slippedIn ? '; also stored' : ''}`,
      })
    }
    appendFileSync(inject('securityLedger'), records.map((record) => `${JSON.stringify(record)}\n`).join(''))

    const missingValid = messages.filter(
      (message) => message.broken === undefined && !stored.has(String(message.fields.txn_id)),
    )
    const wrong = records.filter((record) => !record.refused)
    const byKind = new Map<string, number>()
    for (const record of wrong)
      byKind.set(
        `${record.attempt}: ${record.detail}`,
        (byKind.get(`${record.attempt}: ${record.detail}`) ?? 0) + 1,
      )
    expect(
      [...byKind].slice(0, 20).map(([what, times]) => `${times} × ${what}`),
      `seed ${SEED}: malformed messages not refused as they should be`,
    ).toEqual([])
    expect(
      missingValid.map((message) => message.probe).slice(0, 20),
      `seed ${SEED}: valid messages not stored`,
    ).toEqual([])
    expect(worker.worker.counters.errors).toBe(0)
  })
})
