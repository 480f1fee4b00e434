import { describe, expect, it } from 'vitest'
import { ProgressRates } from './import-orchestrator'

/** Times are performance.now() readings in milliseconds, given rather than measured. */

describe('an import’s progress as the analyst reads it', () => {
  it('gives rows and MB per second since the start, and the time left from the bytes still to read', () => {
    const rates = new ProgressRates(400e6, 1000)
    const event = rates.event({ phase: 'reading', percent: 25, bytesRead: 100e6, rows: 500_000 }, 3000)
    expect(event).toEqual({
      type: 'progress',
      phase: 'reading',
      percent: 25,
      bytesRead: 100e6,
      rows: 500_000,
      rowsPerSecond: 250_000,
      megabytesPerSecond: 50,
      // A quarter read in 2 s: three quarters left, 6 s.
      etaSeconds: 6,
    })
  })

  it('times the checking phase from its own start, by its percent', () => {
    const rates = new ProgressRates(400e6, 0)
    rates.event({ phase: 'reading', percent: 100, bytesRead: 400e6, rows: 1000 }, 10_000)
    const checking = rates.event({ phase: 'checking', percent: 0, bytesRead: 400e6, rows: 1000 }, 10_000)
    expect(checking.type === 'progress' && checking.etaSeconds).toBeNull()
    const later = rates.event({ phase: 'checking', percent: 40, bytesRead: 400e6, rows: 1000 }, 12_000)
    // 40 % in the 2 s since checking began: 3 s left, not a figure from the 12 s since the import began.
    expect(later).toMatchObject({ percent: 40, etaSeconds: 3 })
  })

  it('keeps the percent between 0 and 100 and never divides by no time', () => {
    const rates = new ProgressRates(100, 500)
    const first = rates.event({ phase: 'reading', percent: 120, bytesRead: 0, rows: 0 }, 500)
    expect(first).toMatchObject({ percent: 100, rowsPerSecond: 0, etaSeconds: null })
    expect(rates.event({ phase: 'reading', percent: -3, bytesRead: 10, rows: 1 }, 500)).toMatchObject({
      percent: 0,
      rowsPerSecond: 1000,
    })
  })
})
