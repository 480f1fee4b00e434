import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { deadLetterStream, type StreamLayout } from '../../src/main/pipeline/partitioning'
import { replay, type ReplaySummary } from '../../src/main/pipeline/producer'
import {
  expectedScoring,
  generated,
  migratedDatabase,
  pendingEntries,
  spawnWorker,
  startWorker,
  storedCount,
  storedScoring,
  testLayout,
  waitFor,
} from '../support/pipeline'
import { startPrivatePostgres, startPrivateRedis, type PrivateRedis } from '../support/private-servers'
import { createTestDatabase } from '../support/services'
import { streamLength } from '../support/streams'

/**
 * The crash matrix: while `aether replay` sends and a worker stores, one part dies — the worker (SIGKILL),
 * PostgreSQL (immediate shutdown, as a crash) or Redis (SIGKILL, with appendonly yes and appendfsync
 * everysec) — and comes back. Each case on its own servers. Whatever died: every transaction Redis
 * confirmed to the producer is stored exactly once and scored as one worker scoring in order would, no
 * entry is left pending, and nothing is dead-lettered. Each case logs its figures.
 */

const COUNT = 10_000
// Slow enough that a case's crash lands while the producer is still sending (a worker from source starts in
// seconds on a busy machine, and drains what is waiting far faster than this).
const TPS = 1_500
const txns = generated(COUNT, 29)
const expected = expectedScoring(txns)
const cleanups: (() => Promise<unknown>)[] = []

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function produce(redisUrl: string, layout: StreamLayout): Promise<ReplaySummary> {
  return replay({
    redis: { url: redisUrl },
    layout,
    rows: txns.map((txn) => ({ txn })),
    tps: TPS,
    retryForMs: 60_000,
  })
}

async function deadLetters(redisUrl: string, layout: StreamLayout): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await redis.connect()
  try {
    return await redis.xlen(deadLetterStream(layout))
  } finally {
    redis.disconnect()
  }
}

interface Outcome {
  what: string
  summary: ReplaySummary
  redis: PrivateRedis
  layout: StreamLayout
  postgres: { url: string; password?: string }
  started: number
}

/** stored = confirmed, each once and scored in order, nothing pending, nothing dead-lettered; logs the figures. */
async function expectEveryConfirmedStoredOnce({ what, summary, redis, layout, postgres, started }: Outcome) {
  expect(summary.failure).toBeUndefined()
  expect(summary.confirmed).toBe(COUNT)
  const stored = await waitFor(
    'every confirmed transaction stored',
    () => storedCount(postgres.url, postgres.password),
    (n) => n >= summary.confirmed,
    90_000,
  )
  const pending = await waitFor(
    'nothing pending',
    () => pendingEntries(redis.url, layout),
    (n) => n === 0,
  )
  const scoring = await storedScoring(postgres.url, postgres.password)
  const dead = await deadLetters(redis.url, layout)
  console.log(
    `crash matrix | ${what} | confirmed ${summary.confirmed} | stored ${stored} | duplicates ${stored - scoring.scores.size} | pending ${pending} | dead letters ${dead} | producer retried ${summary.retried} (re-sent after no reply ${summary.unconfirmedResent}) | ${((Date.now() - started) / 1000).toFixed(1)} s`,
  )
  expect(stored).toBe(summary.confirmed)
  expect(scoring.scores.size).toBe(COUNT)
  expect(scoring.scores).toEqual(expected.scores)
  expect(scoring.states).toEqual(expected.states)
  expect(dead).toBe(0)
}

describe('crash matrix', () => {
  it('worker killed with SIGKILL mid-stream, a new one started', async () => {
    const redis = await startPrivateRedis()
    cleanups.push(() => redis.stop())
    const database = await createTestDatabase('aether_crash')
    cleanups.push(() => database.drop())
    await migratedDatabase(database.url)
    const layout = testLayout()
    // A state checkpoint every second: the first worker dies between two, with some written.
    const args = [
      '--postgres-url',
      database.url,
      '--redis-url',
      redis.url,
      '--prefix',
      layout.prefix,
      '--state-checkpoint-seconds',
      '1',
    ]
    const started = Date.now()
    const producing = produce(redis.url, layout)
    const first = spawnWorker(args)
    cleanups.push(async () => first.child.kill('SIGKILL'))
    await waitFor(
      'a first part stored',
      () => storedCount(database.url),
      (n) => n >= 2_000,
    )
    first.child.kill('SIGKILL')
    await first.exited
    expect(await storedCount(database.url)).toBeLessThan(COUNT)
    const second = spawnWorker(args)
    cleanups.push(async () => second.child.kill('SIGKILL'))
    const summary = await producing
    await expectEveryConfirmedStoredOnce({
      what: 'worker kill -9',
      summary,
      redis,
      layout,
      postgres: database,
      started,
    })
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  }, 150_000)

  it('PostgreSQL stopped as by a crash (immediate) mid-stream and started again', async () => {
    const redis = await startPrivateRedis()
    cleanups.push(() => redis.stop())
    const postgres = await startPrivatePostgres({ password: 'crash-matrix-pg' })
    cleanups.push(() => postgres.stop())
    await migratedDatabase(postgres.url, postgres.password)
    const layout = testLayout()
    const started = Date.now()
    const producing = produce(redis.url, layout)
    const worker = startWorker({
      postgres: { url: postgres.url, password: postgres.password },
      redis: { url: redis.url },
      layout,
    })
    cleanups.push(() => worker.close())
    await waitFor(
      'a first part stored',
      () => storedCount(postgres.url, postgres.password),
      (n) => n >= 2_000,
    )
    await postgres.restart('immediate')
    const summary = await producing
    await expectEveryConfirmedStoredOnce({
      what: 'PostgreSQL restart (immediate)',
      summary,
      redis,
      layout,
      postgres: { url: postgres.url, password: postgres.password },
      started,
    })
    expect((await worker.worker.status()).counts.errors).toBeGreaterThan(0)
    await worker.close()
  }, 150_000)

  it('Redis killed with SIGKILL (AOF, appendfsync everysec) mid-stream and started on the same data', async () => {
    const redis = await startPrivateRedis()
    cleanups.push(() => redis.stop())
    const database = await createTestDatabase('aether_crash')
    cleanups.push(() => database.drop())
    await migratedDatabase(database.url)
    const layout = testLayout()
    const started = Date.now()
    const producing = produce(redis.url, layout)
    const worker = startWorker({ postgres: { url: database.url }, redis: { url: redis.url }, layout })
    cleanups.push(() => worker.close())
    await waitFor(
      'a first part sent and stored',
      async () => Math.min(await streamLength(redis.url, layout), 2 * (await storedCount(database.url))),
      (n) => n >= 4_000,
    )
    await redis.kill()
    await sleep(3_000)
    await redis.restart()
    const summary = await producing
    expect(summary.retried).toBeGreaterThan(0)
    await expectEveryConfirmedStoredOnce({
      what: 'Redis kill -9 (AOF everysec)',
      summary,
      redis,
      layout,
      postgres: database,
      started,
    })
    expect((await worker.worker.status()).state).toBe('running')
    await worker.close()
  }, 150_000)
})
