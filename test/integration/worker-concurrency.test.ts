import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  deleteKeys,
  expectedScoring,
  generated,
  migratedDatabase,
  pendingEntries,
  produce,
  spawnWorker,
  storedCount,
  storedScoring,
  testLayout,
  waitFor,
  type WorkerProcess,
} from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * `aether worker --concurrency 2`: two workers in one process, each on its own thread, share the
 * partitions and score exactly as one worker alone; the process's /metrics counts both, their GC pauses
 * included (a thread's isolate is not the main thread's, and its pauses stop that worker whole).
 */

const layout = testLayout(4)
let database: TestDatabase
let worker: WorkerProcess

beforeAll(async () => {
  database = await createTestDatabase()
  await migratedDatabase(database.url)
})

afterAll(async () => {
  if (worker !== undefined && worker.child.exitCode === null) {
    worker.child.kill('SIGTERM')
    await worker.exited
  }
  await deleteKeys(SHARED_REDIS_URL, layout.prefix)
  await database?.drop()
})

const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe('aether worker --concurrency 2', () => {
  it('stores what one worker would, and its /metrics counts both threads', async () => {
    const txns = generated(20_000, 11)
    worker = spawnWorker([
      '--postgres-url',
      database.url,
      '--redis-url',
      SHARED_REDIS_URL,
      '--prefix',
      layout.prefix,
      '--partitions',
      String(layout.partitions),
      '--concurrency',
      '2',
    ])
    const port = await waitFor(
      'the metrics port',
      async () => Number(/127\.0\.0\.1:(\d+)\/metrics/.exec(worker.output())?.[1] ?? 0),
      (found) => found > 0,
      30_000,
    )
    const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    const minorBefore = sample(await scrape(), 'nodejs_gc_duration_seconds_count{kind="minor"}') ?? 0
    await produce(SHARED_REDIS_URL, layout, txns)
    await waitFor(
      '20,000 stored',
      () => storedCount(database.url),
      (n) => n === 20_000,
      120_000,
    )
    const stored = await storedScoring(database.url)
    const expected = expectedScoring(txns)
    expect(stored.scores).toEqual(expected.scores)
    expect(stored.states).toEqual(expected.states)
    expect(await pendingEntries(SHARED_REDIS_URL, layout)).toBe(0)

    // Both workers are in the figures, each named, and together they stored every transaction.
    const storedBy = (found: string) =>
      [
        ...found.matchAll(/^aether_ingest_transactions_total\{worker="([^"]+)",outcome="stored"\} (\d+)$/gm),
      ].map((match) => ({ worker: match[1], stored: Number(match[2]) }))
    const text = await waitFor(
      'both workers counting 20,000 between them',
      scrape,
      (found) => storedBy(found).reduce((sum, { stored }) => sum + stored, 0) === 20_000,
      15_000,
    )
    expect(new Set(storedBy(text).map(({ worker }) => worker)).size).toBe(2)
    // The threads' young-generation pauses: scoring 20,000 transactions took 13 of them in one run, where
    // the main thread, which only serves /metrics, took none (counted alone, as before threads reported).
    const minorAfter = sample(text, 'nodejs_gc_duration_seconds_count{kind="minor"}') ?? 0
    expect(minorAfter - minorBefore).toBeGreaterThanOrEqual(4)

    worker.child.kill('SIGTERM')
    expect(await worker.exited).toBe(0)
    expect(worker.output()).toMatch(/Stopped; 20,000 transactions stored by this process\./)
  }, 240_000)
})
