import { QueryClient } from '@tanstack/react-query'
import { describe, expect, it } from 'vitest'
import { liveQueryOptions } from './live'

/** A stream as the workstation sends one: some values, then a clean end or a break. */
async function* values(items: number[], breakWith?: Error): AsyncGenerator<number> {
  for (const item of items) yield item
  if (breakWith) throw breakWith
}

const KEY = ['live-test']

describe('liveQueryOptions', () => {
  it('hands every value of a burst to onValue and keeps the newest as the data readers share', async () => {
    const client = new QueryClient()
    const seen: number[] = []
    const data = await client.fetchQuery(
      liveQueryOptions({
        queryKey: KEY,
        stream: async () => values([1, 2, 3], new Error('host restarted')),
        read: async () => client.getQueryData<number>(KEY) ?? -1,
        onValue: (value) => seen.push(value),
        reconnectMs: 1000,
      }),
    )
    expect(seen).toEqual([1, 2, 3])
    expect(data).toBe(3)
  })

  it('follows a new stream at once when the workstation ends one, and reads once when it breaks', async () => {
    const client = new QueryClient()
    const streams = [values([1]), values([2], new Error('store error'))]
    let closed = 0
    const data = await client.fetchQuery(
      liveQueryOptions({
        queryKey: KEY,
        stream: async () => streams.shift() ?? values([]),
        read: async () => 42,
        onClose: () => closed++,
        reconnectMs: 1000,
      }),
    )
    expect(streams).toHaveLength(0)
    expect(closed).toBe(2)
    expect(data).toBe(42)
  })

  it('surfaces the read failure while the stream is down, and the stream failure when there is no read', async () => {
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } })
    await expect(
      client.fetchQuery(
        liveQueryOptions({
          queryKey: KEY,
          stream: async () => values([], new Error('stream broke')),
          read: async () => Promise.reject(new Error('workstation unreachable')),
          reconnectMs: 1000,
        }),
      ),
    ).rejects.toThrow('workstation unreachable')
    await expect(
      client.fetchQuery(
        liveQueryOptions({
          queryKey: ['live-test', 'events'],
          stream: async () => values([], new Error('stream broke')),
          reconnectMs: 1000,
        }),
      ),
    ).rejects.toThrow('stream broke')
  })
})
