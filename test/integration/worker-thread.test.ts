import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { GcPause } from '../../src/main/pipeline/thread'
import { WorkerThread } from '../../src/main/pipeline/threads'
import {
  deleteKeys,
  generated,
  migratedDatabase,
  produce,
  storedCount,
  TEST_TIMING,
  testLayout,
  waitFor,
} from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * A pipeline worker on its own thread, as `aether worker` and the app run it: it stores what the stream
 * holds, tells its process its isolate's GC pauses (the process's /metrics counts them), and a thread
 * that ends without being stopped says so, for the process to end and be started again.
 */

const layout = testLayout(4)
let database: TestDatabase

beforeAll(async () => {
  database = await createTestDatabase()
  await migratedDatabase(database.url)
})

afterAll(async () => {
  await deleteKeys(SHARED_REDIS_URL, layout.prefix)
  await database?.drop()
})

describe('a worker thread', () => {
  it('stores the stream and reports its own GC pauses', async () => {
    const pauses: GcPause[] = []
    const ended: number[] = []
    const thread = await WorkerThread.start(
      {
        postgres: { url: database.url },
        redis: { url: SHARED_REDIS_URL },
        layout,
        timing: TEST_TIMING,
      },
      () => {},
      { onGc: (reported) => pauses.push(...reported), onEnded: (code) => ended.push(code) },
    )
    try {
      await produce(SHARED_REDIS_URL, layout, generated(20_000, 7))
      await waitFor(
        '20,000 stored',
        () => storedCount(database.url),
        (n) => n === 20_000,
        120_000,
      )
      // Reported about once a second: the ones of the drain arrive with the next report.
      await waitFor(
        'GC pauses reported',
        async () => pauses.length,
        (n) => n > 0,
        10_000,
      )
      expect(pauses.some(([kind]) => kind === 'minor')).toBe(true)
      for (const [kind, seconds] of pauses) {
        expect(['major', 'minor', 'incremental', 'weakcb']).toContain(kind)
        expect(seconds).toBeGreaterThan(0)
        expect(seconds).toBeLessThan(10)
      }
      // Its figures arrive the same way: the count its status gives is what the store holds.
      await waitFor(
        'its figures to count 20,000',
        async () => thread.latest?.status.counts.stored,
        (n) => n === 20_000,
        10_000,
      )
    } finally {
      await thread.stop()
    }
    // A stop is not an unexpected end.
    expect(ended).toEqual([])
  }, 180_000)

  it('that fails says it ended unexpectedly, with its exit code', async () => {
    const lines: string[] = []
    let ended: (code: number) => void = () => {}
    const code = new Promise<number>((resolve) => (ended = resolve))
    await WorkerThread.start(
      {
        postgres: { url: database.url },
        redis: { url: SHARED_REDIS_URL },
        // No partition: the worker refuses the layout as it starts, and the thread ends with the error.
        layout: { prefix: layout.prefix, partitions: 0 },
        timing: TEST_TIMING,
      },
      (line) => lines.push(line),
      { onEnded: ended },
    )
    expect(await code).toBe(1)
    expect(lines.join('\n')).toMatch(/the pipeline worker thread failed: The partition count must be/)
    expect(lines.join('\n')).toMatch(/ended unexpectedly \(exit code 1\)/)
  }, 60_000)
})
