import { describe, expect, it } from 'vitest'
import { progressOf, type RunTally } from './query-runs'

const tally = (change: Partial<RunTally>): RunTally => ({
  parts: 1,
  partsDone: 0,
  partPercent: null,
  rowsBefore: 0,
  partRows: 0,
  ...change,
})

describe('the progress of a run', () => {
  it('has no percent or time left before DuckDB gives one', () => {
    expect(progressOf(tally({}), 0.5)).toEqual({
      type: 'progress',
      percent: null,
      rowsRead: 0,
      rowsPerSecond: 0,
      etaSeconds: null,
      elapsedSeconds: 0.5,
    })
  })

  it('reads rows per second and the time left from the percent', () => {
    const progress = progressOf(tally({ partPercent: 25, partRows: 1000 }), 2)
    expect(progress).toMatchObject({ percent: 25, rowsRead: 1000, rowsPerSecond: 500, etaSeconds: 6 })
  })

  it('spreads the percent over the parts and adds up their rows', () => {
    const second = tally({ parts: 2, partsDone: 1, partPercent: 50, rowsBefore: 4000, partRows: 2000 })
    expect(progressOf(second, 3)).toMatchObject({ percent: 75, rowsRead: 6000, etaSeconds: 1 })
    // Between two parts DuckDB has no percent yet: the finished part still counts.
    expect(progressOf(tally({ parts: 2, partsDone: 1 }), 3).percent).toBe(50)
  })

  it('gives no time left once the scans are done but the query still works', () => {
    for (const partPercent of [100, 99.99, 99.5])
      expect(progressOf(tally({ partPercent, partRows: 10 }), 4)).toMatchObject({
        percent: partPercent,
        etaSeconds: null,
      })
    expect(progressOf(tally({ partPercent: 99, partRows: 10 }), 4).etaSeconds).toBeGreaterThan(0)
  })
})
