import ARIMA from 'arima'

/**
 * Throughput forecast: an automatically chosen ARIMA model (the `arima` package, a WebAssembly build of
 * ctsa) fitted to per-bucket transaction counts. The band is the 95 % interval; a bucket whose actual
 * count leaves the band of a forecast made without it is a spike, with its z-score.
 */

export const BAND_Z = 1.96
/**
 * A spike is further out than the band: at 1.96 one bucket in twenty of ordinary traffic would be
 * flagged, and traffic is burstier than Poisson; at 3, about one in four hundred.
 */
export const SPIKE_Z = 3
/** Fewer buckets than this and a fitted model says more about noise than about the traffic. */
export const MIN_HISTORY = 30

export interface ForecastPoint {
  mean: number
  lower: number
  upper: number
  sd: number
}

export interface Forecast {
  model: string
  points: ForecastPoint[]
}

/** Counts are at least Poisson-noisy, so the band never gets narrower than √mean. */
const bandOf = (mean: number, variance: number): ForecastPoint => {
  const sd = Math.max(Math.sqrt(Math.max(variance, 0)), Math.sqrt(Math.max(mean, 1)))
  return { mean, sd, lower: Math.max(0, mean - BAND_Z * sd), upper: mean + BAND_Z * sd }
}

export function forecastCounts(history: readonly number[], horizon: number): Forecast | null {
  if (history.length < MIN_HISTORY || horizon < 1) return null
  const model = new ARIMA({ auto: true, p: 2, d: 1, q: 2, verbose: false })
  try {
    model.train([...history])
    const [means, variances] = model.predict(horizon)
    if (means.some((value) => !Number.isFinite(value))) return null
    return {
      model: 'auto ARIMA (p ≤ 2, d ≤ 1, q ≤ 2)',
      points: means.map((mean, index) => bandOf(Math.max(0, mean), variances[index] ?? 0)),
    }
  } finally {
    model.destroy()
  }
}

export interface Spike {
  index: number
  count: number
  expected: number
  z: number
}

/** The one-step model of spike detection: small and exact, refitted for every bucket (well under 1 ms). */
const ONE_STEP = { p: 1, d: 1, q: 1, method: 0, verbose: false } as const
/** A one-step fit looks this many buckets back: enough for its two parameters, and fast. */
const ONE_STEP_HISTORY = 180
/** For this many buckets after a spike, the traffic may still be a burst rather than a new level. */
const EXCURSION_BUCKETS = 10

/**
 * Flags each of the last `window` buckets whose count is more than SPIKE_Z standard deviations from a
 * one-step-ahead forecast made from the buckets before it. A forecast of the whole window at once would
 * call every bucket of a level shift a spike (traffic that starts from nothing); one step ahead, only
 * the bucket where it starts. After a spike the traffic is either a burst (it returns to where it was)
 * or a new level: for a few buckets each one is also forecast from before the spike, and is a spike only
 * when neither forecast explains it. So the end of a burst is not called a drop, and a drop right after
 * a shift still is.
 */
export function findSpikes(series: readonly number[], window: number): Spike[] {
  const spikes: Spike[] = []
  const model = new ARIMA(ONE_STEP)
  const forecastFrom = (end: number, steps: number) => {
    model.train(series.slice(Math.max(0, end - ONE_STEP_HISTORY), end))
    const [means, variances] = model.predict(steps)
    return means.map((mean, step) =>
      Number.isFinite(mean) ? bandOf(Math.max(0, mean), variances[step] ?? 0) : null,
    )
  }
  try {
    let excursion: { start: number; before: (ForecastPoint | null)[] } | undefined
    for (let index = Math.max(series.length - window, MIN_HISTORY); index < series.length; index++) {
      if (excursion !== undefined && index - excursion.start >= EXCURSION_BUCKETS) excursion = undefined
      const count = series[index] ?? 0
      const candidates = [
        forecastFrom(index, 1)[0],
        excursion === undefined ? undefined : excursion.before[index - excursion.start],
      ]
        .filter((point): point is ForecastPoint => point !== null && point !== undefined)
        .map((point) => ({ point, z: (count - point.mean) / point.sd }))
      const best = candidates.reduce<(typeof candidates)[number] | undefined>(
        (chosen, candidate) =>
          chosen === undefined || Math.abs(candidate.z) < Math.abs(chosen.z) ? candidate : chosen,
        undefined,
      )
      if (best === undefined || Math.abs(best.z) <= SPIKE_Z) continue
      spikes.push({ index, count, expected: best.point.mean, z: best.z })
      excursion ??= { start: index, before: forecastFrom(index, EXCURSION_BUCKETS) }
    }
  } finally {
    model.destroy()
  }
  return spikes
}
