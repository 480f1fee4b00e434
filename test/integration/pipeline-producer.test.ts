import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { replay } from '../../src/main/pipeline/producer'
import {
  deleteKeys,
  expectedScoring,
  generated,
  migratedDatabase,
  pendingEntries,
  startWorker,
  storedCount,
  storedScoring,
  testLayout,
  waitFor,
} from '../support/pipeline'
import { startPrivateRedis } from '../support/private-servers'
import { createTestDatabase, SHARED_REDIS_URL, uniqueName } from '../support/services'
import { spawnCli, streamLength, txnCopies } from '../support/streams'

/**
 * `aether replay` as a producer a team can rely on: it rides out a Redis that goes away, sends an entry
 * twice only after an XADD that got no reply, says what it sent, and an interrupted run resumes where Redis
 * last confirmed it.
 */

const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const count = (text: string) => Number(text.replaceAll(',', ''))

describe('replay producer', () => {
  it('finishes through a Redis that is down for several seconds, each transaction stored once', async () => {
    const COUNT = 20_000
    const txns = generated(COUNT, 31)
    const redis = await startPrivateRedis()
    cleanups.push(() => redis.stop())
    const layout = testLayout()
    const started = Date.now()
    const producing = replay({
      redis: { url: redis.url },
      layout,
      rows: txns.map((txn) => ({ txn })),
      tps: 5_000,
      retryForMs: 60_000,
    })
    await waitFor(
      'a first part in the streams',
      () => streamLength(redis.url, layout),
      (n) => n >= 4_000,
    )
    await redis.kill()
    await sleep(4_000)
    await redis.restart()
    const summary = await producing
    console.log(
      `producer through a 4 s Redis outage: sent ${summary.sent}, confirmed ${summary.confirmed}, retried ${summary.retried}, re-sent after no reply ${summary.unconfirmedResent}, ${Date.now() - started} ms`,
    )
    expect(summary.failure).toBeUndefined()
    expect(summary.cancelled).toBe(false)
    expect(summary.sent).toBe(COUNT)
    expect(summary.confirmed).toBe(COUNT)
    expect(summary.retried).toBeGreaterThan(0)
    expect(summary.perPartition.reduce((a, b) => a + b, 0)).toBe(COUNT)
    expect(summary.checkpoint).toEqual({ through: COUNT, confirmedAfter: [] })

    // Every transaction is in the streams; a second copy only where an XADD went unanswered.
    const copies = await txnCopies(redis.url, layout)
    expect(txns.filter((txn) => (copies.get(txn.txn_id) ?? 0) < 1)).toEqual([])
    expect(copies.size).toBe(COUNT)
    const extra = [...copies.values()].reduce((n, c) => n + c - 1, 0)
    expect(extra).toBeLessThanOrEqual(summary.unconfirmedResent)

    // The worker stores each exactly once, scored in order.
    const database = await createTestDatabase('aether_pipe')
    cleanups.push(() => database.drop())
    await migratedDatabase(database.url)
    const worker = startWorker({ postgres: { url: database.url }, redis: { url: redis.url }, layout })
    cleanups.push(() => worker.close())
    await waitFor(
      'every transaction stored',
      () => storedCount(database.url),
      (n) => n >= COUNT,
      90_000,
    )
    await waitFor(
      'nothing pending',
      () => pendingEntries(redis.url, layout),
      (n) => n === 0,
    )
    await worker.close()
    const stored = await storedScoring(database.url)
    const expected = expectedScoring(txns)
    expect(stored.scores.size).toBe(COUNT)
    expect(stored.scores).toEqual(expected.scores)
    expect(stored.states).toEqual(expected.states)
  }, 150_000)

  it('Ctrl-C stops with a summary of what Redis confirmed, and --resume sends the rest once', async () => {
    const COUNT = 30_000
    const layout = testLayout()
    cleanups.push(() => deleteKeys(SHARED_REDIS_URL, layout.prefix))
    const progress = join(tmpdir(), `${uniqueName('aether-replay')}.json`)
    cleanups.push(() => rm(progress, { force: true }))
    const args = [
      'replay',
      '--generate',
      String(COUNT),
      '--seed',
      '37',
      '--tps',
      '6000',
      '--redis-url',
      SHARED_REDIS_URL,
      '--prefix',
      layout.prefix,
      '--progress',
      progress,
    ]
    const first = spawnCli(args)
    cleanups.push(async () => first.child.kill('SIGKILL'))
    await waitFor(
      'a first part in the streams',
      () => streamLength(SHARED_REDIS_URL, layout),
      (n) => n >= 6_000,
    )
    first.child.kill('SIGINT')
    expect(await first.exited).toBe(0)
    const cancelled =
      /Cancelled: ([\d,]+) transactions sent, ([\d,]+) confirmed by Redis, ([\d,]+) retried/.exec(
        first.output(),
      )
    expect(cancelled, first.output()).not.toBeNull()
    const firstConfirmed = count(cancelled?.[2] as string)
    expect(firstConfirmed).toBeGreaterThanOrEqual(6_000)
    expect(firstConfirmed).toBeLessThan(COUNT)
    // What Redis holds is exactly what the summary says it confirmed.
    expect(await streamLength(SHARED_REDIS_URL, layout)).toBe(firstConfirmed)
    expect(first.output()).toMatch(/--resume to send the rest/)
    const recorded = Object.values(JSON.parse(await readFile(progress, 'utf8')).runs) as {
      through: number
      complete: boolean
    }[]
    expect(recorded).toHaveLength(1)
    expect(recorded[0]?.complete).toBe(false)
    expect(recorded[0]?.through).toBeGreaterThan(0)

    const second = spawnCli([...args, '--resume'])
    cleanups.push(async () => second.child.kill('SIGKILL'))
    expect(await second.exited, second.output()).toBe(0)
    const done = /Done: ([\d,]+) transactions sent, ([\d,]+) confirmed by Redis/.exec(second.output())
    expect(done, second.output()).not.toBeNull()
    expect(firstConfirmed + count(done?.[2] as string)).toBe(COUNT)

    // The union of both runs is every generated transaction, each sent once.
    const copies = await txnCopies(SHARED_REDIS_URL, layout)
    const txns = generated(COUNT, 37)
    expect(txns.filter((txn) => copies.get(txn.txn_id) !== 1)).toEqual([])
    expect(copies.size).toBe(COUNT)

    const third = spawnCli([...args, '--resume'])
    expect(await third.exited).toBe(0)
    expect(third.output()).toMatch(/complete: nothing left to send/)
    expect(await streamLength(SHARED_REDIS_URL, layout)).toBe(COUNT)
  }, 120_000)

  it('resuming leaves out the rows an earlier run confirmed after its last complete position', async () => {
    const txns = generated(10, 41)
    const layout = testLayout()
    cleanups.push(() => deleteKeys(SHARED_REDIS_URL, layout.prefix))
    // Rows 1–3, 5 and 7 were confirmed: the source yields from row 4 on; 5 and 7 must not go again.
    const summary = await replay({
      redis: { url: SHARED_REDIS_URL },
      layout,
      rows: txns.slice(3).map((txn, i) => ({ line: i + 4, txn })),
      resumeFrom: { through: 3, confirmedAfter: [5, 7] },
    })
    expect(summary).toMatchObject({ sent: 5, confirmed: 5, skipped: 2, failure: undefined })
    expect(summary.checkpoint).toEqual({ through: 10, confirmedAfter: [] })
    const copies = await txnCopies(SHARED_REDIS_URL, layout)
    expect([...copies.keys()].sort()).toEqual(
      [txns[3], txns[5], txns[7], txns[8], txns[9]].map((txn) => txn?.txn_id).sort(),
    )
  })

  it('gives up after the retry window with a summary, not an exception, when Redis never comes', async () => {
    const redis = await startPrivateRedis()
    const url = redis.url
    await redis.stop()
    const summary = await replay({
      redis: { url },
      layout: testLayout(),
      rows: generated(5, 43).map((txn) => ({ txn })),
      retryForMs: 1_500,
    })
    expect(summary.failure).toMatch(/Could not reach Redis for 2 s: .*ECONNREFUSED/)
    expect(summary).toMatchObject({ sent: 0, confirmed: 0, checkpoint: { through: 0, confirmedAfter: [] } })
  })
})
