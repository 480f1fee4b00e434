import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TeamWorker } from '../../src/main/pipeline/team'
import {
  deleteKeys,
  expectedScoring,
  generated,
  migratedDatabase,
  pendingEntries,
  produce,
  startWorker,
  storedCount,
  storedScoring,
  testLayout,
  waitFor,
  type Expected,
  type StoredScoring,
} from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * Per-user features must not depend on how many workers consume the streams or when they come and go:
 * the same replay gives the same score for every transaction and the same state for every user.
 */

const COUNT = 20_000
const txns = generated(COUNT, 7)
let expected: Expected
const cleanups: (() => Promise<void>)[] = []

async function run(
  drive: (
    config: Parameters<typeof startWorker>[0],
    layout: ReturnType<typeof testLayout>,
  ) => Promise<TeamWorker[]>,
  tps?: number,
): Promise<{ stored: StoredScoring; workers: TeamWorker[] }> {
  const database: TestDatabase = await createTestDatabase('aether_pipe')
  const layout = testLayout()
  cleanups.push(
    () => database.drop(),
    () => deleteKeys(SHARED_REDIS_URL, layout.prefix),
  )
  await migratedDatabase(database.url)
  const config = { postgres: { url: database.url }, redis: { url: SHARED_REDIS_URL }, layout }
  const producing = produce(SHARED_REDIS_URL, layout, txns, tps)
  const workers = await drive(config, layout)
  await producing
  await waitFor(
    'every transaction stored',
    () => storedCount(database.url),
    (n) => n >= COUNT,
  )
  await waitFor(
    'nothing pending',
    () => pendingEntries(SHARED_REDIS_URL, layout),
    (n) => n === 0,
  )
  for (const worker of workers) await worker.close()
  return { stored: await storedScoring(database.url), workers }
}

const sorted = <V>(map: Map<string, V>) => [...map].sort(([a], [b]) => (a < b ? -1 : 1))

let single: StoredScoring

beforeAll(async () => {
  expected = expectedScoring(txns)
  single = (await run(async (config) => [startWorker(config)])).stored
})

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup()
})

describe('features at any scale', () => {
  it('one worker scores as the scoring core does, user by user in order', () => {
    expect(single.scores.size).toBe(COUNT)
    expect(sorted(single.scores)).toEqual(sorted(expected.scores))
    expect(sorted(single.states)).toEqual(sorted(expected.states))
    const flagged = [...single.scores.values()].filter((score) => score.decision !== 'approve').length
    expect(single.alerts).toBe(flagged)
    // The generated traffic has velocity bursts: the test is void unless they fire.
    const reasons = new Set([...single.scores.values()].flatMap((score) => score.reasons.map((r) => r.rule)))
    expect([...reasons]).toEqual(expect.arrayContaining(['velocity_1h']))
  })

  it('three workers give every transaction the same score as one', async () => {
    const { stored, workers } = await run(async (config) => [
      startWorker(config),
      startWorker(config),
      startWorker(config),
    ])
    expect(workers.map((worker) => worker.worker.counters.stored).every((n) => n > 0)).toBe(true)
    expect(sorted(stored.scores)).toEqual(sorted(single.scores))
    expect(sorted(stored.states)).toEqual(sorted(single.states))
    expect(stored.alerts).toBe(single.alerts)
  })

  it('workers joining and leaving mid-stream lose nothing and count nothing twice', async () => {
    // Checkpoints every 300 ms: states written beside the batches and at each handover, many times over.
    const { stored, workers } = await run(async (shared) => {
      const config = { ...shared, stateCheckpointMs: 300 }
      const first = startWorker(config)
      const atLeast = async (n: number) =>
        waitFor(
          `${n} stored`,
          async () => first.worker.counters.stored,
          (stored) => stored >= n,
        )
      await atLeast(2_000)
      const second = startWorker(config)
      const third = startWorker(config)
      // Both newcomers hold partitions before the first one leaves (on a busy machine one of them could
      // otherwise join only after the stream is drained).
      await waitFor(
        'each newcomer to take partitions',
        async () => [second.worker.counters.stored, third.worker.counters.stored],
        (counts) => counts.every((n) => n > 0),
      )
      await first.close()
      const fourth = startWorker(config)
      await waitFor(
        'the last one to take partitions',
        async () => fourth.worker.counters.stored,
        (n) => n > 0,
      )
      await second.close()
      return [first, second, third, fourth]
    }, 4_000)
    expect(workers.filter((worker) => worker.worker.counters.stored > 0)).toHaveLength(4)
    expect(stored.scores.size).toBe(COUNT)
    expect(sorted(stored.scores)).toEqual(sorted(single.scores))
    expect(sorted(stored.states)).toEqual(sorted(single.states))
  })
})
