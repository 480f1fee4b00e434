import type { DuckDBConnection } from '@duckdb/node-api'
import type { BacktestResult } from '../../shared/datasets-contract'
import type { RuleSet } from '../../shared/rules'
import { asNumber, asText, quoteLiteral, readRows } from './duck'
import { TRANSACTIONS_VIEW } from './layout'
import { compileRuleSetToSql } from './rules-sql'

const SCORED_ROWS = 'backtest_rows'

/**
 * Runs a rule set over every row of a labelled dataset with the same compiled SQL the scorer's rules
 * become (rules-sql.ts), in one pass: per day and in total (GROUPING SETS), the confusion matrix, the
 * decisions, the fraud amount caught and missed, and how often each rule fired.
 * An alert is a review or block decision; a fraud is a row labelled fraud. Rows without a label count in
 * `rows` and the decisions, not in the confusion matrix.
 */
export async function runBacktest(connection: DuckDBConnection, ruleSet: RuleSet): Promise<BacktestResult> {
  const started = performance.now()
  const enabled = ruleSet.rules.filter((rule) => rule.enabled)
  const alert = `s.decision <> 'approve'`
  const hits = enabled.flatMap((rule, index) => [
    `count(*) FILTER (list_contains(s.fired, ${quoteLiteral(rule.id)})) AS hit_${index}`,
    `count(*) FILTER (list_contains(s.fired, ${quoteLiteral(rule.id)}) AND s.label) AS hit_fraud_${index}`,
  ])
  // The transactions view without txn_id: the one column that costs a hash per row, and a count needs none.
  await connection.run(
    `CREATE OR REPLACE TEMP VIEW ${SCORED_ROWS} AS SELECT * REPLACE (CAST(NULL AS UUID) AS txn_id) FROM main.${TRANSACTIONS_VIEW}`,
  )
  const rows = await readRows(
    connection,
    `SELECT grouping(day) AS total, CAST(day AS VARCHAR) AS day,
       count(*) AS rows,
       count(*) FILTER (${alert} AND s.label) AS tp,
       count(*) FILTER (${alert} AND NOT s.label) AS fp,
       count(*) FILTER (NOT ${alert} AND s.label) AS fn,
       count(*) FILTER (NOT ${alert} AND NOT s.label) AS tn,
       count(*) FILTER (s.decision = 'approve') AS approve,
       count(*) FILTER (s.decision = 'review') AS review,
       count(*) FILTER (s.decision = 'block') AS block,
       CAST(coalesce(sum(t.amount) FILTER (${alert} AND s.label), 0) AS VARCHAR) AS caught,
       CAST(coalesce(sum(t.amount) FILTER (NOT ${alert} AND s.label), 0) AS VARCHAR) AS missed
       ${hits.map((hit) => `, ${hit}`).join('')}
     FROM (${compileRuleSetToSql(ruleSet, SCORED_ROWS)}) s
     JOIN (SELECT seq, amount, CAST(ts AS DATE) AS day FROM ${TRANSACTIONS_VIEW}) t USING (seq)
     GROUP BY GROUPING SETS ((day), ())
     ORDER BY total DESC, day`,
  )
  const [total, ...days] = rows
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
    alertsPerDay: days.map((day) => ({
      day: asText(day.day) ?? 'no date',
      alerts: asNumber(day.review) + asNumber(day.block),
      fraudCaught: asNumber(day.tp),
    })),
    ruleHits: enabled.map((rule, index) => ({
      rule: rule.id,
      fired: asNumber(total[`hit_${index}`]),
      firedOnFraud: asNumber(total[`hit_fraud_${index}`]),
    })),
    millis: Math.round(performance.now() - started),
  }
}
