/**
 * Bucket counts a worker keeps as plain data: a worker thread sends them to the process that serves
 * /metrics, which adds up the threads' counts and hands them to prom-client (pipeline/metrics.ts). The
 * counting stays here because prom-client's own histograms cannot be read back or merged across threads.
 */

/** Upper bounds (ms) of the XADD → commit latency buckets: 1 ms apart where the goal (25 ms) lies. */
export const LATENCY_BUCKETS_MS = [
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 25, 30, 40, 50, 75, 100, 150, 200, 300, 500, 1000, 2000,
  5000, 10000,
]

/** How far ahead of this host's clock a stream id's time may be and still measure a latency. */
const REDIS_CLOCK_AHEAD_MS = 60_000

/**
 * XADD → commit from a stream id's time (Redis's clock) and this host's: a Redis a few ms ahead reads as
 * 0, never as a negative latency that would lower the histogram's sum. An id far in the future (a
 * producer's XADD with an id of its own, which every `*` id after it carries too) measures nothing:
 * undefined.
 */
export function xaddLatencyMs(now: number, idTime: number): number | undefined {
  const ms = now - idTime
  if (!Number.isFinite(ms) || ms < -REDIS_CLOCK_AHEAD_MS) return undefined
  return Math.max(0, ms)
}

/** Upper bounds of the batch size buckets (entries per committed batch). */
export const BATCH_SIZE_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 1000, 2000, 5000]

/** Per bucket counts (not cumulative; the last one is +Inf), their sum and their number. */
export interface HistogramSnapshot {
  counts: number[]
  sum: number
  count: number
}

export class LatencyHistogram {
  /** Per bucket, not cumulative; the last one is +Inf. */
  readonly counts: number[]
  sum = 0
  count = 0

  constructor(readonly bounds: readonly number[] = LATENCY_BUCKETS_MS) {
    this.counts = new Array<number>(bounds.length + 1).fill(0)
  }

  record(value: number) {
    let index = 0
    while (index < this.bounds.length && value > (this.bounds[index] as number)) index++
    this.counts[index] = (this.counts[index] ?? 0) + 1
    this.sum += value
    this.count++
  }

  merge(other: HistogramSnapshot) {
    other.counts.forEach((value, index) => (this.counts[index] = (this.counts[index] ?? 0) + value))
    this.sum += other.sum
    this.count += other.count
  }

  snapshot(): HistogramSnapshot {
    return { counts: [...this.counts], sum: this.sum, count: this.count }
  }
}

/** The value at a quantile, interpolated within its bucket as Prometheus' histogram_quantile does. */
export function latencyQuantile(
  histogram: { counts: number[]; count: number },
  quantile: number,
  bounds: readonly number[] = LATENCY_BUCKETS_MS,
): number {
  if (histogram.count === 0) return Number.NaN
  const rank = quantile * histogram.count
  let cumulative = 0
  for (let index = 0; index < histogram.counts.length; index++) {
    const inBucket = histogram.counts[index] ?? 0
    if (cumulative + inBucket >= rank) {
      const lower = index === 0 ? 0 : (bounds[index - 1] as number)
      const upper = bounds[index] ?? lower
      return inBucket === 0 ? upper : lower + ((upper - lower) * (rank - cumulative)) / inBucket
    }
    cumulative += inBucket
  }
  return bounds.at(-1) as number
}

/**
 * The value at a quantile of measured samples by nearest rank (the smallest value with at least that
 * share of the samples at or below it); NaN without samples. For the bench scripts' timings.
 */
export function sampleQuantile(values: readonly number[], quantile: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(quantile * sorted.length) - 1))] as number
}
