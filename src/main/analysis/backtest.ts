import type { DuckDBConnection } from '@duckdb/node-api'
import type { BacktestResult } from '../../shared/datasets-contract'
import type { RuleSet } from '../../shared/rules'
import { asNumber, asText, hasTable, readRows } from './duck'
import { PAYSIM_NULL_COLUMNS, TRANSACTION_TYPE_ENUM, TRANSACTIONS_VIEW } from './layout'
import { compileRuleSetToSql } from './rules-sql'

const SCORED_ROWS = 'backtest_rows'

/**
 * The users of a PaySim dataset with more than one transaction, found once at import: the backtest's
 * rules need each such user's history, and telling them from the millions who pay once sorts every row
 * (about 0.8 s of a 2.4 s backtest on the full PaySim). A dataset never changes; one imported before this
 * table existed is told apart afresh in each backtest.
 * Users are kept by id, not by DuckDB's hash, which a later DuckDB may compute differently. The import
 * makes the same table from its one grouping of PaySim's nameOrig (importer.ts; quality.test.ts compares).
 */
export const REPEAT_USERS_TABLE = 'repeat_users'
const REPEAT_USERS_QUERY = `
  WITH repeated AS MATERIALIZED (
    SELECT DISTINCT h FROM (
      SELECT h, lag(h) OVER (ORDER BY h) AS previous
      FROM (SELECT hash(user_id) AS h FROM ${TRANSACTIONS_VIEW} WHERE user_id IS NOT NULL)
    ) WHERE h = previous
  )
  SELECT DISTINCT user_id FROM ${TRANSACTIONS_VIEW}
  WHERE user_id IS NOT NULL AND hash(user_id) IN (SELECT h FROM repeated)`
export const createRepeatUsersSql = () => `CREATE TABLE ${REPEAT_USERS_TABLE} AS ${REPEAT_USERS_QUERY}`
/** The repeat users found afresh (the benchmark times this beside the backtest). */
export const repeatUsersQuery = () => REPEAT_USERS_QUERY
/** Rules per bit mask: a BIGINT holds 63 bits, and 60 keeps the arithmetic well clear of the sign. */
const MASK_BITS = 60
/** The longest span, in hours, whose alerts are charted per hour: three days, 72 bars. */
export const HOURLY_SPAN = 72
const HOUR = 3_600_000

/** "2026-01-01 05:00" for an hour, "2026-01-01" for a day: the bucket's start in UTC. */
function bucketLabel(hour: number, bucket: 'hour' | 'day'): string {
  const iso = new Date(hour * HOUR).toISOString()
  return bucket === 'hour' ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : iso.slice(0, 10)
}

type Counts = { alerts: number; fraudCaught: number }

/** Per-hour counts (`null`: rows without a time), as hours or summed into days by the span they cover. */
export function alertsOverTime(perHour: { hour: number | null; counts: Counts }[]): {
  bucket: 'hour' | 'day'
  points: { start: string; alerts: number; fraudCaught: number }[]
} {
  const hours = perHour.flatMap((entry) => (entry.hour === null ? [] : [entry.hour]))
  const span = hours.length === 0 ? 0 : Math.max(...hours) - Math.min(...hours) + 1
  const bucket = span <= HOURLY_SPAN ? 'hour' : 'day'
  const points = new Map<string, Counts>()
  for (const { hour, counts } of perHour) {
    const start =
      hour === null ? 'no date' : bucketLabel(bucket === 'hour' ? hour : Math.floor(hour / 24) * 24, bucket)
    const point = points.get(start) ?? { alerts: 0, fraudCaught: 0 }
    point.alerts += counts.alerts
    point.fraudCaught += counts.fraudCaught
    points.set(start, point)
  }
  return { bucket, points: [...points].map(([start, counts]) => ({ start, ...counts })) }
}

/**
 * Runs a rule set over every row of a labelled dataset with the same compiled SQL the scorer's rules
 * become (rules-sql.ts), in one pass: per hour and in total (GROUPING SETS), the confusion matrix, the
 * decisions, the fraud amount caught and missed, and how often each rule fired.
 * Alerts over time come per hour when the rows span at most `HOURLY_SPAN` hours (PaySim's steps are
 * hours: a day's extract is one bar per day, 24 per hour), per day otherwise (the hours summed).
 * Hours and days are UTC (counted from the epoch, which is also cheaper than a time-zone conversion per row).
 * An alert is a review or block decision; a fraud is a row labelled fraud. Rows without a label count in
 * `rows` and the decisions, not in the confusion matrix.
 */
export async function runBacktest(connection: DuckDBConnection, ruleSet: RuleSet): Promise<BacktestResult> {
  const started = performance.now()
  const enabled = ruleSet.rules.filter((rule) => rule.enabled)
  const alert = `decision <> 'approve'`
  // Rows are first counted per (hour, decision, label, which rules fired): a few hundred groups, keyed by
  // bit masks of 60 rules each. Every figure is then a sum over those groups, not a filter over every row.
  const masks = Array.from({ length: Math.ceil(enabled.length / MASK_BITS) }, (_, mask) =>
    enabled
      .slice(mask * MASK_BITS, (mask + 1) * MASK_BITS)
      .map((_, bit) => `CASE WHEN __fired_${mask * MASK_BITS + bit} THEN ${2n ** BigInt(bit)} ELSE 0 END`)
      .join(' + '),
  )
  const maskColumns = masks.map((sum, mask) => `, CAST(${sum} AS BIGINT) AS mask_${mask}`).join('')
  const fired = (index: number) =>
    `(mask_${Math.floor(index / MASK_BITS)} & ${2n ** BigInt(index % MASK_BITS)}) <> 0`
  const hits = enabled.flatMap((_, index) => [
    `coalesce(sum(n) FILTER (${fired(index)}), 0) AS hit_${index}`,
    `coalesce(sum(n) FILTER (${fired(index)} AND label), 0) AS hit_fraud_${index}`,
  ])
  // The transactions view without txn_id: the one column that costs a hash per row, and a count needs none.
  await connection.run(
    `CREATE OR REPLACE TEMP VIEW ${SCORED_ROWS} AS SELECT * REPLACE (CAST(NULL AS UUID) AS txn_id) FROM main.${TRANSACTIONS_VIEW}`,
  )
  const kept = await hasTable(connection, REPEAT_USERS_TABLE)
  const scored = compileRuleSetToSql(ruleSet, SCORED_ROWS, {
    ...(kept ? { repeatUsers: `main.${REPEAT_USERS_TABLE}` } : {}),
    carry: ['amount', 'ts'],
    firedList: false,
    nullColumns: PAYSIM_NULL_COLUMNS,
    typeEnum: TRANSACTION_TYPE_ENUM,
  })
  const rows = await readRows(
    connection,
    `WITH grouped AS (
       SELECT epoch_ms(ts) // ${HOUR} AS hour, decision, label${maskColumns}, count(*) AS n, sum(amount) AS amount
       FROM (${scored}) GROUP BY ALL
     )
     SELECT grouping(hour) AS total, hour,
       sum(n) AS rows,
       coalesce(sum(n) FILTER (${alert} AND label), 0) AS tp,
       coalesce(sum(n) FILTER (${alert} AND NOT label), 0) AS fp,
       coalesce(sum(n) FILTER (NOT ${alert} AND label), 0) AS fn,
       coalesce(sum(n) FILTER (NOT ${alert} AND NOT label), 0) AS tn,
       coalesce(sum(n) FILTER (decision = 'approve'), 0) AS approve,
       coalesce(sum(n) FILTER (decision = 'review'), 0) AS review,
       coalesce(sum(n) FILTER (decision = 'block'), 0) AS block,
       CAST(coalesce(sum(amount) FILTER (${alert} AND label), 0) AS VARCHAR) AS caught,
       CAST(coalesce(sum(amount) FILTER (NOT ${alert} AND label), 0) AS VARCHAR) AS missed
       ${hits.map((hit) => `, ${hit}`).join('')}
     FROM grouped
     GROUP BY GROUPING SETS ((hour), ())
     ORDER BY total DESC, hour`,
  )
  const [total, ...hours] = rows
  if (total === undefined || asNumber(total.total) !== 1) throw new Error('The backtest returned no totals.')
  const truePositives = asNumber(total.tp)
  const falsePositives = asNumber(total.fp)
  const falseNegatives = asNumber(total.fn)
  const precision =
    truePositives + falsePositives === 0 ? null : truePositives / (truePositives + falsePositives)
  const recall =
    truePositives + falseNegatives === 0 ? null : truePositives / (truePositives + falseNegatives)
  const f1 =
    precision === null || recall === null || precision + recall === 0
      ? null
      : (2 * precision * recall) / (precision + recall)
  return {
    rulesVersion: ruleSet.version,
    rows: asNumber(total.rows),
    confusion: { truePositives, falsePositives, falseNegatives, trueNegatives: asNumber(total.tn) },
    precision,
    recall,
    f1,
    decisions: {
      approve: asNumber(total.approve),
      review: asNumber(total.review),
      block: asNumber(total.block),
    },
    fraudAmountCaught: asText(total.caught) ?? '0.00',
    fraudAmountMissed: asText(total.missed) ?? '0.00',
    alertsOverTime: alertsOverTime(
      hours.map((hour) => ({
        hour: hour.hour === null || hour.hour === undefined ? null : asNumber(hour.hour),
        counts: { alerts: asNumber(hour.review) + asNumber(hour.block), fraudCaught: asNumber(hour.tp) },
      })),
    ),
    ruleHits: enabled.map((rule, index) => ({
      rule: rule.id,
      fired: asNumber(total[`hit_${index}`]),
      firedOnFraud: asNumber(total[`hit_fraud_${index}`]),
    })),
    millis: Math.round(performance.now() - started),
  }
}
