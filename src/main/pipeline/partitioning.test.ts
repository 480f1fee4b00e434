import { describe, expect, it } from 'vitest'
import { assignPartitions } from './ownership'
import { partitionOf, partitionStream, validateLayout } from './partitioning'

describe('partitioning', () => {
  it('puts a user on the same partition every time, spread evenly over the partitions', () => {
    // The published FNV-1a (32 bit) test vectors: any other producer computes the same partitions.
    expect(partitionOf('a', 2 ** 32)).toBe(0xe40c292c)
    expect(partitionOf('foobar', 2 ** 32)).toBe(0xbf9cf968)
    const counts = new Array<number>(8).fill(0)
    for (let i = 0; i < 80_000; i++) {
      const partition = partitionOf(`C${i * 7919}`, 8)
      counts[partition] = (counts[partition] ?? 0) + 1
    }
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(500)
    expect(partitionOf('Zoë', 8)).toBe(partitionOf('Zoë', 8))
  })

  it('names streams with a hash tag, so a partition lives in one Redis Cluster slot', () => {
    expect(partitionStream({ prefix: 'aether:', partitions: 8 }, 3)).toBe('aether:tx:{p3}')
    expect(() => validateLayout({ prefix: 'a b', partitions: 8 })).toThrow(/prefix/)
    expect(() => validateLayout({ prefix: 'a:', partitions: 0 })).toThrow(/partition count/)
  })

  it('gives every partition to exactly one live worker, about N/M each', () => {
    const members = ['w-c', 'w-a', 'w-b']
    const shares = members.map((member) => assignPartitions(members, member, 8))
    expect(shares.map((share) => share.size).sort()).toEqual([2, 3, 3])
    expect(new Set(shares.flatMap((share) => [...share])).size).toBe(8)
    expect(assignPartitions(members, 'w-gone', 8).size).toBe(0)
    expect(assignPartitions(['w-a'], 'w-a', 8).size).toBe(8)
  })
})
