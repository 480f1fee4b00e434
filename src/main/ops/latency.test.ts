import { describe, expect, it } from 'vitest'
import { LatencyHistogram, sampleQuantile, xaddLatencyMs } from './latency'

describe('the quantile of measured samples', () => {
  it('is the nearest rank, whatever order the samples came in', () => {
    const samples = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6]
    expect(sampleQuantile(samples, 0.5)).toBe(5)
    expect(sampleQuantile(samples, 0.95)).toBe(10)
    expect(sampleQuantile(samples, 0.9)).toBe(9)
    expect(sampleQuantile(samples, 0)).toBe(1)
    expect(samples[0]).toBe(5)
  })

  it('is not a number without samples', () => {
    expect(sampleQuantile([], 0.99)).toBeNaN()
  })
})

describe('XADD → commit from a stream id', () => {
  it('reads a Redis clock a little ahead as 0 and a producer-set future id as no measure, so the sum never falls', () => {
    const now = 1_800_000_000_000
    const histogram = new LatencyHistogram()
    for (const idTime of [now - 12, now + 3, now + 3_600_000, now - 30_000, Number.NaN]) {
      const ms = xaddLatencyMs(now, idTime)
      if (ms !== undefined) histogram.record(ms)
    }
    expect(histogram.count).toBe(3)
    expect(histogram.sum).toBe(12 + 0 + 30_000)
    expect(histogram.counts[0]).toBe(1)
  })
})
