import { randomBytes } from 'node:crypto'
import { appendFileSync } from 'node:fs'
import { connect } from 'node:net'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { RunningGateway } from '../../src/main/gateway/start'
import { partitionStream, type StreamLayout } from '../../src/main/pipeline/partitioning'
import { createApiKey, freshTransaction, ingestLogin, startTestGateway } from '../support/gateway'
import { deleteKeys, migratedDatabase, query, testLayout } from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'
import type { AttemptRecord } from './support/attempts'
import { seeded } from '../support/seeded'

/**
 * 10⁴ hostile requests to the Decision API with a valid key: random bytes and malformed JSON, deep
 * nesting, huge numbers, __proto__ keys, invalid UTF-8, oversized bodies and headers, slow headers.
 * Every one is refused with a 4xx (or its connection closed), nothing reaches the streams or the
 * store, and the gateway keeps serving.
 */

const HOSTILE = 10_000
const SEED = Number(process.env.AETHER_SECURITY_SEED ?? randomBytes(4).readUInt32LE())

const random = seeded(SEED)

const cleanups: (() => Promise<unknown>)[] = []
let database: TestDatabase
let layout: StreamLayout
let gateway: RunningGateway
let key: string

beforeAll(async () => {
  database = await createTestDatabase('aether_sec_gw')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
  const login = await ingestLogin(database.url)
  cleanups.push(() => login.drop())
  layout = testLayout(2)
  cleanups.push(() => deleteKeys(SHARED_REDIS_URL, layout.prefix))
  key = await createApiKey(database.url, 'hostile')
  gateway = await startTestGateway({
    postgresUrl: login.url,
    redisUrl: SHARED_REDIS_URL,
    layout,
    budgetMs: 50,
    limits: {
      bodyBytes: 16 * 1024,
      batchBodyBytes: 2 * 1024 * 1024,
      headerBytes: 16 * 1024,
      headersTimeoutMs: 1000,
      requestTimeoutMs: 2000,
      authFailures: { max: 20, windowMs: 60_000 },
    },
  })
  cleanups.push(() => gateway.close())
}, 60_000)

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

interface Hostile {
  kind: string
  body: Buffer
  path?: string
  headers?: Record<string, string>
}

const valid = () => freshTransaction({ ts: '2026-01-01T00:00:00Z' }) as Record<string, unknown>

const KINDS: (() => Hostile)[] = [
  () => ({ kind: 'random bytes', body: randomBytes(1 + random.below(2000)) }),
  () => {
    const text = JSON.stringify(valid())
    return { kind: 'truncated JSON', body: Buffer.from(text.slice(0, random.below(text.length - 1))) }
  },
  () => {
    const depth = 1000 + random.below(50_000)
    return { kind: 'deep nesting', body: Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`) }
  },
  () => {
    const body = valid()
    const where = random.pick(['amount', 'balance_before', 'label', 'ts'])
    body[where] = random.pick([1e308, -1e308, '1'.repeat(400), 2 ** 64, '1e5', 'NaN'])
    return { kind: `huge or odd number in ${where}`, body: Buffer.from(JSON.stringify(body)) }
  },
  () => {
    const text = JSON.stringify(valid())
    const poison = random.pick(['"__proto__": {"admin": true}', '"constructor": {"prototype": {"x": 1}}'])
    return { kind: 'prototype poisoning', body: Buffer.from(`{${poison},${text.slice(1)}`) }
  },
  () => {
    const text = JSON.stringify({ ...valid(), user_id: 'USERX' })
    const at = text.indexOf('USERX')
    const bad = random.pick([[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]])
    return {
      kind: 'invalid UTF-8 in user_id',
      body: Buffer.concat([
        Buffer.from(text.slice(0, at)),
        Buffer.from(bad),
        Buffer.from(text.slice(at + 5)),
      ]),
    }
  },
  () => ({
    kind: 'oversized body',
    body: Buffer.from(
      JSON.stringify({ ...valid(), merchant_type: 'x'.repeat(17_000 + random.below(50_000)) }),
    ),
  }),
  () => ({
    kind: 'oversized headers',
    body: Buffer.from(JSON.stringify(valid())),
    headers: { 'x-padding': 'h'.repeat(17_000 + random.below(20_000)) },
  }),
  () => {
    const body = valid()
    const field = random.pick(['txn_id', 'user_id', 'type', 'currency', 'source_ip', 'amount'])
    body[field] = random.pick([null, 42, true, [], {}, '', '\u0000', 'x'.repeat(300)])
    return { kind: `wrong type in ${field}`, body: Buffer.from(JSON.stringify(body)) }
  },
  () => ({
    kind: 'batch of hostile items',
    path: '/v1/transactions/batch',
    body: Buffer.from(
      JSON.stringify({
        transactions: Array.from({ length: 1 + random.below(20) }, () => ({ ...valid(), amount: '-1' })),
      }),
    ),
  }),
  () => ({
    kind: 'wrong content type',
    body: Buffer.from(JSON.stringify(valid())),
    headers: {
      'content-type': random.pick(['text/plain', 'application/x-www-form-urlencoded', 'image/png']),
    },
  }),
]

async function send(hostile: Hostile): Promise<AttemptRecord> {
  const path = hostile.path ?? '/v1/transactions'
  try {
    const response = await fetch(`${gateway.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...hostile.headers },
      body: new Uint8Array(hostile.body),
    })
    const text = await response.text()
    // A batch answers 202 with a status per item: refused when every item is invalid.
    const batchRefused =
      response.status === 202 && (JSON.parse(text) as { accepted: number; duplicates: number }).accepted === 0
    const refused = (response.status >= 400 && response.status < 500) || batchRefused
    return {
      attempt: `gateway: ${hostile.kind}`,
      refused,
      detail: `${response.status} ${text.slice(0, 120)}`,
    }
  } catch (error) {
    // The server hanging up on a request it will not read (oversized headers) is a refusal; any other
    // failure (no server, an answer that is not JSON) is not.
    const code = (error as { cause?: { code?: string } }).cause?.code
    const hungUp = code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE'
    return {
      attempt: `gateway: ${hostile.kind}`,
      refused: hungUp,
      detail: `${hungUp ? 'connection closed' : 'failed'}: ${String(error)} (${code ?? 'no code'})`,
    }
  }
}

/** Sends the request line and part of the headers, then nothing: the server must hang up. */
function slowHeaders(): Promise<AttemptRecord> {
  const url = new URL(gateway.url)
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname)
    const started = Date.now()
    let answer = ''
    socket.on('data', (chunk) => (answer += chunk.toString()))
    let connected = false
    socket.on('connect', () => {
      connected = true
      socket.write('POST /v1/transactions HTTP/1.1\r\nHost: x\r\nX-Slow: ')
    })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ attempt: 'gateway: slow headers', refused: false, detail: 'still open after 10 s' })
    }, 10_000)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({
        attempt: 'gateway: slow headers',
        // Hung up by the server, not a connection that never opened.
        refused: connected,
        detail: `${connected ? '' : 'never connected; '}closed after ${Date.now() - started} ms ${answer.split('\r\n')[0] ?? ''}`,
      })
    })
    socket.on('error', () => {})
  })
}

describe('hostile requests to the Decision API', () => {
  it(`refuses ${HOSTILE.toLocaleString('en-US')} of them, stores nothing and keeps serving (seed ${SEED})`, async () => {
    const records: AttemptRecord[] = []
    let next = 0
    const slow = Promise.all([slowHeaders(), slowHeaders()])
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < HOSTILE) {
          next++
          records.push(await send(random.pick(KINDS)()))
        }
      }),
    )
    records.push(...(await slow))
    appendFileSync(inject('securityLedger'), records.map((record) => `${JSON.stringify(record)}\n`).join(''))
    const allowed = records.filter((record) => !record.refused)
    expect(allowed.slice(0, 5), `seed ${SEED}`).toEqual([])
    expect(records.length).toBeGreaterThanOrEqual(HOSTILE)

    // Nothing reached the streams or the store.
    const redis = new Redis(SHARED_REDIS_URL)
    try {
      for (let partition = 0; partition < layout.partitions; partition++)
        expect(await redis.xlen(partitionStream(layout, partition))).toBe(0)
    } finally {
      redis.disconnect()
    }
    const [stored] = await query<{ n: number }>(database.url, 'SELECT count(*)::int AS n FROM transactions')
    expect(stored?.n).toBe(0)

    // Still serving: a valid transaction is taken.
    const response = await fetch(`${gateway.url}/v1/transactions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(freshTransaction()),
    })
    expect(response.status).toBe(200)
  }, 300_000)
})
