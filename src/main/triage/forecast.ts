import ARIMA from 'arima'

/**
 * Throughput forecast: an automatically chosen ARIMA model (the `arima` package, a WebAssembly build of
 * ctsa) fitted to per-bucket transaction counts. The band is the 95 % interval; a bucket whose actual
 * count leaves the band of a forecast made without it is a spike, with its z-score.
 */

export const BAND_Z = 1.96
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

/**
 * Forecasts the last `window` buckets from the ones before them and flags those whose actual count lies
 * outside the band.
 */
export function findSpikes(series: readonly number[], window: number): Spike[] {
  const cut = series.length - window
  const forecast = forecastCounts(series.slice(0, cut), window)
  if (forecast === null) return []
  return forecast.points.flatMap((point, offset) => {
    const count = series[cut + offset] ?? 0
    const z = (count - point.mean) / point.sd
    return Math.abs(z) > BAND_Z ? [{ index: cut + offset, count, expected: point.mean, z }] : []
  })
}
