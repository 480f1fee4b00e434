import { describe, expect, it } from 'vitest'
import { followFeed, type DecisionEvent } from './decision-feed'

const event = (id: number): DecisionEvent => ({
  id,
  txn_id: `t${id}`,
  decision: 'review',
  score: 50,
  reasons: [],
  case_id: null,
  created_at: '2026-01-01T00:00:00Z',
})

/** 2,000 final events, read a page of 500 at a time, as the store gives them. */
const feed = {
  subscribe: () => () => {},
  read: async (after: number) =>
    Array.from({ length: Math.max(0, Math.min(500, 2000 - after)) }, (_, i) => event(after + i + 1)),
}

describe('a client of the decisions feed', () => {
  it('that reads slowly holds the feed back a page at a time, instead of every event piling up for it', async () => {
    const written: number[] = []
    let drain: () => void = () => {}
    let waits = 0
    const stop = followFeed(
      feed,
      0,
      (chunk) => {
        const id = /^id: (\d+)/.exec(chunk)?.[1]
        if (id !== undefined) written.push(Number(id))
        return false
      },
      undefined,
      60_000,
      () =>
        new Promise<void>((resolve) => {
          waits++
          drain = resolve
        }),
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    // The first page went out; the rest waits for the connection to take more.
    expect(written).toHaveLength(500)
    expect(waits).toBe(1)
    drain()
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(written).toHaveLength(1000)
    for (let i = 0; i < 3; i++) {
      drain()
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(written).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1))
    stop()
  })

  it('that keeps up gets every event at once', async () => {
    const written: number[] = []
    const stop = followFeed(feed, 1500, (chunk) => {
      const id = /^id: (\d+)/.exec(chunk)?.[1]
      if (id !== undefined) written.push(Number(id))
      return true
    })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(written).toEqual(Array.from({ length: 500 }, (_, i) => 1501 + i))
    stop()
  })
})
