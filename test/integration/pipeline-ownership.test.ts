import { afterAll, describe, expect, it } from 'vitest'
import { PartitionOwnership } from '../../src/main/pipeline/ownership'
import { membersKey, type StreamLayout } from '../../src/main/pipeline/partitioning'
import { RedisStreams } from '../../src/main/pipeline/redis-stream'
import { preparedLayout, TEST_TIMING, waitFor } from '../support/pipeline'
import { SHARED_REDIS_URL } from '../support/services'

/**
 * Workers started together (a deploy, a restart of the fleet) split the partitions at once: none takes
 * them all first to hand most of them over again, each a drain, a checkpoint and a takeover.
 */

const cleanups: (() => Promise<unknown>)[] = []

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

/** A member's partition ownership on the shared Redis, not started; stopped after the tests. */
function ownershipOf(layout: StreamLayout, member: string) {
  const streams = new RedisStreams({ url: SHARED_REDIS_URL }, layout, member)
  const ownership = new PartitionOwnership(streams, layout.partitions, TEST_TIMING)
  cleanups.push(async () => {
    await ownership.stop()
    await streams.close()
  })
  return { streams, ownership }
}

describe('partition ownership', () => {
  it('workers started together each take only their share, from the first lease on', async () => {
    const { layout } = await preparedLayout(cleanups)
    const members = ['worker-a', 'worker-b', 'worker-c', 'worker-d']
    const owners = members.map((member) => ownershipOf(layout, member).ownership)
    for (const ownership of owners) ownership.start()
    // The most partitions each one ever held, sampled until all eight are held.
    const most = owners.map(() => 0)
    const deadline = Date.now() + 20_000
    for (;;) {
      owners.forEach((ownership, i) => (most[i] = Math.max(most[i] as number, ownership.leases.size)))
      const held = owners.map((ownership) => [...ownership.leases.keys()])
      if (held.flat().length === layout.partitions) {
        // Each holds its two, and no partition is held twice.
        expect(new Set(held.flat()).size).toBe(layout.partitions)
        expect(held.map((partitions) => partitions.length)).toEqual([2, 2, 2, 2])
        break
      }
      if (Date.now() > deadline)
        throw new Error(`the partitions were not shared out: ${JSON.stringify(held)}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    expect(most).toEqual([2, 2, 2, 2])
  })

  it('a worker paused while its heartbeat is on its way wants nothing and stays out of the group', async () => {
    const { layout, redis } = await preparedLayout(cleanups)
    const { streams, ownership } = ownershipOf(layout, 'worker-p')
    ownership.start()
    await waitFor(
      'all eight held',
      async () => ownership.leases.size,
      (held) => held === layout.partitions,
    )
    // The pause lands between a heartbeat's request and its answer (the analyst's Pause at any moment).
    const heartbeat = streams.heartbeat.bind(streams)
    let paused = false
    streams.heartbeat = async (leaseMs: number) => {
      const members = await heartbeat(leaseMs)
      if (!paused) {
        paused = true
        ownership.setPaused(true)
      }
      return members
    }
    await waitFor(
      'the pause',
      async () => paused,
      (done) => done,
    )
    // Two more heartbeats' time: a paused worker wants no partition, whatever the last heartbeat saw.
    await new Promise((resolve) => setTimeout(resolve, 3 * TEST_TIMING.heartbeatMs))
    expect([...ownership.wanted()]).toEqual([])
    expect(await redis.zrange(membersKey(layout), 0, -1)).not.toContain('worker-p')
  })
})
