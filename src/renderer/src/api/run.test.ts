import { describe, expect, it } from 'vitest'
import { followRun } from './run'

async function* events(items: string[], breakWith?: Error): AsyncGenerator<string> {
  for (const item of items) yield item
  if (breakWith) throw breakWith
}

describe('followRun', () => {
  it('hands each event over in order and ends where the caller says the run is done', async () => {
    const seen: string[] = []
    const completed = await followRun(
      async () => events(['started', 'progress', 'done', 'after']),
      (event) => {
        seen.push(event)
        return event === 'done' ? 'stop' : undefined
      },
      () => seen.push('failed'),
    )
    expect(completed).toBe(true)
    expect(seen).toEqual(['started', 'progress', 'done'])
  })

  it('reports a broken run in plain words, but not one the analyst stopped', async () => {
    const failures: string[] = []
    const broken = await followRun(
      async () => events(['started'], new Error('DuckDB ran out of memory')),
      () => undefined,
      (message) => failures.push(message),
    )
    const stopped = new AbortController()
    stopped.abort()
    const cancelled = await followRun(
      async () => events([], new Error('This operation was aborted')),
      () => undefined,
      (message) => failures.push(message),
      stopped.signal,
    )
    expect([broken, cancelled]).toEqual([false, false])
    expect(failures).toEqual(['DuckDB ran out of memory'])
  })
})
