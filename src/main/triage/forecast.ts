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

/**
 * Flags each of the last `window` buckets whose count lies outside the band of a one-step-ahead forecast
 * made from every bucket before it. A forecast of the whole window at once would call every bucket of a
 * level shift a spike (traffic that starts from nothing); one step ahead, only the bucket where it starts.
 * After a spike the next bucket tells a burst from a shift: it is forecast both from the spike as counted
 * and with the spike replaced by its expected count, and the history keeps whichever explains it better,
 * so a lone burst does not make the bucket after it look like a drop.
 */
export function findSpikes(series: readonly number[], window: number): Spike[] {
  const spikes: Spike[] = []
  const history = [...series]
  const model = new ARIMA(ONE_STEP)
  const oneStep = (index: number) => {
    model.train(history.slice(0, index))
    const [[mean] = [], [variance] = []] = model.predict(1)
    if (mean === undefined || !Number.isFinite(mean)) return null
    const point = bandOf(Math.max(0, mean), variance ?? 0)
    return { point, z: ((series[index] ?? 0) - point.mean) / point.sd }
  }
  try {
    let previousSpike: Spike | undefined
    for (let index = Math.max(series.length - window, MIN_HISTORY); index < series.length; index++) {
      let forecast = oneStep(index)
      if (previousSpike !== undefined) {
        history[index - 1] = previousSpike.expected
        const asBurst = oneStep(index)
        if (asBurst !== null && (forecast === null || Math.abs(asBurst.z) < Math.abs(forecast.z)))
          forecast = asBurst
        else history[index - 1] = previousSpike.count
      }
      previousSpike = undefined
      if (forecast === null || Math.abs(forecast.z) <= SPIKE_Z) continue
      previousSpike = { index, count: series[index] ?? 0, expected: forecast.point.mean, z: forecast.z }
      spikes.push(previousSpike)
    }
  } finally {
    model.destroy()
  }
  return spikes
}
