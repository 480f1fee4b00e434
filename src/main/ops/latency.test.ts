import { describe, expect, it } from 'vitest'
import { sampleQuantile } from './latency'

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
