import { describe, expect, it } from 'vitest'
import { findSpikes, forecastCounts, MIN_HISTORY } from './forecast'
import { forecastOffThread } from './forecast-runner'

/** A steady, slightly noisy minute-by-minute volume, deterministic so the test always sees the same data. */
const steady = (length: number, level = 200) =>
  Array.from(
    { length },
    (_, minute) => level + Math.round(8 * Math.sin(minute * 1.7) + 5 * Math.cos(minute * 0.9)),
  )

describe('throughput forecast', () => {
  it('forecasts the next hour of a steady volume near its level, inside a band', () => {
    const forecast = forecastCounts(steady(240), 60)
    expect(forecast?.points).toHaveLength(60)
    for (const point of forecast?.points ?? []) {
      expect(point.lower).toBeLessThan(point.mean)
      expect(point.upper).toBeGreaterThan(point.mean)
      expect(point.lower).toBeLessThan(200)
      expect(point.upper).toBeGreaterThan(200)
    }
  })

  it('gives no forecast on too little history', () => {
    expect(forecastCounts(steady(MIN_HISTORY - 1), 60)).toBeNull()
  })

  it('flags a burst that leaves the band, and nothing in steady traffic', () => {
    const quiet = steady(300)
    expect(findSpikes(quiet, 60)).toEqual([])
    const burst = [...quiet]
    burst[280] = 900
    const spikes = findSpikes(burst, 60)
    expect(spikes.map((spike) => spike.index)).toEqual([280])
    expect(spikes[0]?.z).toBeGreaterThan(3)
  })

  it('flags where traffic starts from nothing, not every bucket after it', () => {
    const starting = [...Array.from({ length: 300 }, () => 0), ...steady(60)]
    const spikes = findSpikes(starting, 60)
    expect(spikes.map((spike) => spike.index)).toEqual([300])
    expect(spikes[0]?.expected).toBeLessThan(5)
  })

  it('flags a drop to silence as well as a burst', () => {
    const quiet = steady(300)
    const outage = [...quiet.slice(0, 270), 0, ...quiet.slice(271)]
    expect(findSpikes(outage, 60).map((spike) => spike.index)).toContain(270)
  })

  it('does not call the end of a burst of several buckets a drop', () => {
    const quiet = steady(420, 100)
    for (const length of [1, 2, 3]) {
      const burst = quiet.map((count, index) => (index >= 400 && index < 400 + length ? 300 : count))
      expect(findSpikes(burst, 60).map((spike) => spike.index)).toEqual([400])
    }
  })

  it('flags a drop that follows a new level closely', () => {
    const shifted = steady(420, 100).map((count, index) => (index >= 400 ? count + 200 : count))
    const stopped = shifted.map((count, index) => (index >= 404 ? 0 : count))
    expect(findSpikes(shifted, 60).map((spike) => spike.index)).toEqual([400])
    expect(findSpikes(stopped, 60).map((spike) => spike.index)).toEqual([400, 404])
  })

  it('fits the same off the main thread as on it', async () => {
    const burst = steady(300).map((count, index) => (index === 280 ? 900 : count))
    const off = await forecastOffThread({ series: burst, horizon: 60, spikeWindow: 60 })
    expect(off.spikes).toEqual(findSpikes(burst, 60))
    expect(off.spikes.map((spike) => spike.index)).toEqual([280])
    expect(off.forecast).toEqual(forecastCounts(burst, 60))
  })
})
