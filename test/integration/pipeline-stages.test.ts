import { afterAll, describe, expect, it } from 'vitest'
import { workerFigures } from '../../src/main/pipeline/metrics'
import { LATENCY_BUCKETS_MS, type HistogramSnapshot } from '../../src/main/ops/latency'
import {
  deleteKeys,
  generated,
  migratedDatabase,
  produce,
  startWorker,
  storedCount,
  testLayout,
  waitFor,
  withTableLocked,
} from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * Where an entry's XADD → commit goes (the worker's stage histograms, in /metrics): until a read brings
 * it, its batch's preparation, the wait for the commit in flight, the commit. An operator reads from
 * them whether the worker or the store holds transactions up.
 */

const prefixes: string[] = []
const databases: TestDatabase[] = []

afterAll(async () => {
  for (const prefix of prefixes) await deleteKeys(SHARED_REDIS_URL, prefix)
  for (const database of databases) await database.drop()
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** How many recorded values were at most each bound. */
const cumulative = (snapshot: HistogramSnapshot) => {
  let total = 0
  return snapshot.counts.map((count) => (total += count))
}

/** A migrated database of its own and a stream layout of `partitions`, both removed after the file. */
async function newTeam(partitions: number) {
  const database = await createTestDatabase('aether_stages')
  databases.push(database)
  await migratedDatabase(database.url)
  const layout = testLayout(partitions)
  prefixes.push(layout.prefix)
  return { database, layout }
}

describe('where an entry’s time goes', () => {
  it('counts the wait for a worker that was not reading as read wait, not as commit time', async () => {
    const { database, layout } = await newTeam(4)
    const txns = generated(400, 77)
    // Written before any worker reads: these wait at least 800 ms for their read.
    await produce(SHARED_REDIS_URL, layout, txns.slice(0, 200))
    await sleep(800)
    const worker = startWorker({ postgres: { url: database.url }, redis: { url: SHARED_REDIS_URL }, layout })
    try {
      await waitFor(
        'the first 200 stored',
        () => storedCount(database.url),
        (n) => n >= 200,
      )
      await produce(SHARED_REDIS_URL, layout, txns.slice(200), 500)
      await waitFor(
        'all 400 stored',
        () => storedCount(database.url),
        (n) => n >= 400,
      )
      const figures = await workerFigures(worker.worker)
      const { readWaitMs, prepareMs, queuedMs, commitMs, latency } = figures
      if (!readWaitMs || !prepareMs || !queuedMs || !commitMs || !latency)
        throw new Error('the worker keeps no stage times')

      // Every stored transaction once; every committed batch once in each per-batch stage.
      expect(readWaitMs.count).toBe(400)
      expect(latency.count).toBe(400)
      expect(prepareMs.count).toBe(figures.batches)
      expect(queuedMs.count).toBe(figures.batches)
      expect(commitMs.count).toBe(figures.batches)

      // The 200 written before the worker started waited for their read, over 500 ms each.
      const readBy = cumulative(readWaitMs)
      expect(readBy[LATENCY_BUCKETS_MS.indexOf(500)]).toBeLessThanOrEqual(200)
      expect(readWaitMs.sum).toBeGreaterThan(200 * 800)
      // An entry is read before it is committed: at every bound, at least as many were read by then.
      const committedBy = cumulative(latency)
      readBy.forEach((read, i) => expect(read).toBeGreaterThanOrEqual(committedBy[i] as number))
      // …and its batch was then prepared and committed: XADD → commit is more than the read wait.
      expect(latency.sum).toBeGreaterThan(readWaitMs.sum)
      expect(prepareMs.sum).toBeGreaterThan(0)
      // That wait was not the store's: the batches' commits and preparation took far less in all.
      expect(commitMs.sum + prepareMs.sum + queuedMs.sum).toBeLessThan(readWaitMs.sum / 4)
    } finally {
      await worker.close()
    }
  })

  it('counts a commit the store holds up as commit time, and the batch behind it as queued', async () => {
    const { database, layout } = await newTeam(2)
    const txns = generated(100, 78)
    const worker = startWorker({ postgres: { url: database.url }, redis: { url: SHARED_REDIS_URL }, layout })
    try {
      await produce(SHARED_REDIS_URL, layout, txns.slice(0, 50))
      await waitFor(
        'the first 50 stored',
        () => storedCount(database.url),
        (n) => n >= 50,
      )
      const before = await workerFigures(worker.worker)
      // The first batch written meanwhile waits for the lock in its commit, the next ones behind it.
      await withTableLocked(database.url, 'transactions', async () => {
        await produce(SHARED_REDIS_URL, layout, txns.slice(50), 100)
        await sleep(1500)
      })
      await waitFor(
        'all 100 stored',
        () => storedCount(database.url),
        (n) => n >= 100,
      )
      const after = await workerFigures(worker.worker)
      const gained = (key: 'commitMs' | 'queuedMs' | 'readWaitMs') =>
        (after[key]?.sum ?? 0) - (before[key]?.sum ?? 0)
      expect(gained('commitMs')).toBeGreaterThan(1500)
      expect(gained('queuedMs')).toBeGreaterThan(1000)
      expect(after.readWaitMs?.count).toBe(100)
    } finally {
      await worker.close()
    }
  })
})
