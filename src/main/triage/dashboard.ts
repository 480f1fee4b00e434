import { sql } from 'kysely'
import type { Dashboard, DashboardRange } from '../../shared/triage-contract'
import { TransactionType } from '../../shared/transaction'
import type { StoreDb } from '../store/schema'
import { forecastOffThread } from './forecast-runner'

/**
 * Dashboard aggregates. Ranges end at the newest event time in the store (not the wall clock), so a
 * replay of last month's data reads the same as live traffic; the page shows that moment as "as of".
 */

const RANGES: Record<DashboardRange, { seconds: number; bucket: number }> = {
  '15m': { seconds: 15 * 60, bucket: 60 },
  '1h': { seconds: 3600, bucket: 60 },
  '6h': { seconds: 6 * 3600, bucket: 60 },
  '24h': { seconds: 24 * 3600, bucket: 300 },
  '7d': { seconds: 7 * 86_400, bucket: 3600 },
}

/** Minute buckets train the model on six hours even when the chart shows fifteen minutes. */
const TRAINING_SECONDS = 6 * 3600
const FORECAST_SECONDS = 3600
/** Spikes are looked for in the last hour shown. */
const SPIKE_SECONDS = 3600

const emptyDashboard = (bucketSeconds: number): Dashboard => ({
  asOf: null,
  from: null,
  bucketSeconds,
  throughput: [],
  forecast: { model: null, note: 'No transactions in the store yet.', points: [], spikes: [] },
  decisions: [],
  amounts: [],
  topRules: [],
})

export async function dashboard(db: StoreDb, range: DashboardRange): Promise<Dashboard> {
  const { seconds, bucket } = RANGES[range]
  const newest = await db
    .selectFrom('transactions')
    .select('ts')
    .orderBy('ts', 'desc')
    .limit(1)
    .executeTakeFirst()
  if (newest === undefined) return emptyDashboard(bucket)
  const bucketMs = bucket * 1000
  const end = Math.floor(new Date(newest.ts).getTime() / bucketMs) * bucketMs + bucketMs
  const from = end - seconds * 1000
  const trainingFrom = bucket === 60 ? Math.min(from, end - TRAINING_SECONDS * 1000) : from
  const interval = `${bucket} seconds`

  const [perBucket, amounts, topRules] = await Promise.all([
    sql<{ t: Date; total: number; approve: number; review: number; block: number; fraud: number }>`
      SELECT date_bin(${interval}::interval, t.ts, timestamptz 'epoch') AS t,
             count(*)::int AS total,
             (count(*) FILTER (WHERE t.decision = 'approve'))::int AS approve,
             (count(*) FILTER (WHERE t.decision = 'review'))::int AS review,
             (count(*) FILTER (WHERE t.decision = 'block'))::int AS block,
             (count(*) FILTER (WHERE t.label OR l.outcome = 'fraud_confirmed'))::int AS fraud
        FROM transactions t
        LEFT JOIN labels l ON l.txn_id = t.txn_id
       WHERE t.ts >= ${new Date(trainingFrom)} AND t.ts < ${new Date(end)}
       GROUP BY 1`.execute(db),
    sql<{ type: string; count: number; p: number[] }>`
      SELECT type, count(*)::int AS count,
             percentile_cont(ARRAY[0.05, 0.25, 0.5, 0.75, 0.95]) WITHIN GROUP (ORDER BY amount::float8) AS p
        FROM transactions
       WHERE ts >= ${new Date(from)} AND ts < ${new Date(end)}
       GROUP BY type ORDER BY type`.execute(db),
    sql<{ rule: string; count: number }>`
      SELECT reason ->> 'rule' AS rule, count(*)::int AS count
        FROM transactions t
       CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(t.reasons) = 'array' THEN t.reasons ELSE '[]' END) AS reason
       WHERE t.ts >= ${new Date(from)} AND t.ts < ${new Date(end)}
       GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10`.execute(db),
  ])

  // Every bucket, empty ones included: a quiet minute is a zero, not a gap the model never sees.
  const byTime = new Map(perBucket.rows.map((row) => [new Date(row.t).getTime(), row]))
  const buckets: number[] = []
  for (let t = trainingFrom; t < end; t += bucketMs) buckets.push(t)
  const series = buckets.map((t) => byTime.get(t)?.total ?? 0)
  const shownFrom = buckets.findIndex((t) => t >= from)
  const shown = buckets.slice(shownFrom)

  const horizon = Math.max(1, Math.round(FORECAST_SECONDS / bucket))
  const spikeWindow = Math.min(shown.length, Math.max(1, Math.round(SPIKE_SECONDS / bucket)))
  const fitted = await forecastOffThread({ series, horizon, spikeWindow })
  const forecast = fitted.forecast
  const spikes = fitted.spikes.filter((spike) => spike.index >= shownFrom)
  const at = (t: number) => new Date(t).toISOString()

  return {
    asOf: at(new Date(newest.ts).getTime()),
    from: at(from),
    bucketSeconds: bucket,
    throughput: shown.map((t) => ({ t: at(t), count: byTime.get(t)?.total ?? 0 })),
    forecast: {
      model: forecast?.model ?? null,
      note:
        forecast === null
          ? `Not enough history for a forecast yet (it needs 30 buckets of ${bucket / 60} min).`
          : null,
      points: (forecast?.points ?? []).map((point, index) => ({
        t: at(end + index * bucketMs),
        mean: point.mean,
        lower: point.lower,
        upper: point.upper,
      })),
      spikes: spikes.map((spike) => ({
        t: at(buckets[spike.index] ?? end),
        count: spike.count,
        expected: spike.expected,
        z: spike.z,
      })),
    },
    decisions: shown.map((t) => {
      const row = byTime.get(t)
      return {
        t: at(t),
        approve: row?.approve ?? 0,
        review: row?.review ?? 0,
        block: row?.block ?? 0,
        fraudRate: row === undefined || row.total === 0 ? null : row.fraud / row.total,
      }
    }),
    amounts: amounts.rows.flatMap((row) => {
      const type = TransactionType.safeParse(row.type)
      const [p05 = 0, p25 = 0, p50 = 0, p75 = 0, p95 = 0] = row.p
      return type.success ? [{ type: type.data, count: row.count, p05, p25, p50, p75, p95 }] : []
    }),
    topRules: topRules.rows,
  }
}
