import { describe, expect, it } from 'vitest'
import { memoryDuckDB } from '../../../test/support/memory-duckdb'
import { DEFAULT_RULES, RuleSet, type Rule } from '../../shared/rules'
import type { Transaction } from '../../shared/transaction'
import { createListMatcher, emptyUserState, scoreTransaction, type UserState } from '../scoring/index'
import { alertsOverTime, createRepeatUsersSql, REPEAT_USERS_TABLE, runBacktest } from './backtest'
import { hasTable } from './duck'
import { createTransactionTypeSql, TRANSACTION_TYPE_ENUM, TRANSACTIONS_VIEW } from './layout'
import { appendTransactions, transactionsTableSql } from './rules-sql'

/**
 * The backtest's figures against the TypeScript scorer run over the same rows: confusion matrix, decisions,
 * amounts caught and missed, alerts per hour (three days of rows) and each rule's hits, with more rules than one bit mask holds.
 */

const duck = memoryDuckDB()

const DAY = 86_400_000
const T0 = Date.parse('2026-03-01T00:00:00Z')
const TYPES = ['PAYMENT', 'TRANSFER', 'CASH_OUT', 'CASH_IN', 'DEBIT'] as const

/** Deterministic traffic over three days: repeat users, drained accounts, labels on some of each. */
function traffic(count: number): Transaction[] {
  return Array.from({ length: count }, (_, i) => {
    const type = TYPES[(i * 7) % TYPES.length] ?? 'PAYMENT'
    const amount = ((i * 7919) % 200_000) + 0.25
    const drains = i % 11 === 0 && (type === 'TRANSFER' || type === 'CASH_OUT')
    return {
      txn_id: `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`,
      ts: new Date(T0 + Math.floor((i * 3 * DAY) / count) + (i % 5) * 1000).toISOString(),
      // Most users pay again and again; every fourth row is a user's only one, as most are in PaySim.
      user_id: i % 4 === 0 ? `S${i}` : `C${i % 37}`,
      counterparty_id: `C${(i * 13) % 53}`,
      type,
      amount: amount.toFixed(2),
      currency: 'USD',
      balance_before: drains ? amount.toFixed(2) : '500000.00',
      balance_after: drains ? '0.00' : (500_000 - amount).toFixed(2),
      cp_balance_before: '100.00',
      cp_balance_after: i % 3 === 0 ? '100.00' : (100 + amount).toFixed(2),
      label: drains || i % 97 === 0,
    }
  })
}

/** DEFAULT_RULES plus 65 high-value rules at graded limits: 75 enabled rules, two bit masks. */
function manyRules(): RuleSet {
  const graded: Rule[] = Array.from({ length: 65 }, (_, k) => ({
    id: `high_value_${k}`,
    kind: 'high_value',
    enabled: true,
    weight: 1 + (k % 3),
    limits: [{ max_amount: `${(k + 1) * 3000}.00` }],
  }))
  return RuleSet.parse({ ...DEFAULT_RULES, version: 7, rules: [...DEFAULT_RULES.rules, ...graded] })
}

describe('runBacktest', () => {
  it('gives the scorer’s figures, per day and per rule, beyond 60 rules', async () => {
    const rows = traffic(3_000)
    await duck.connection.run(transactionsTableSql(TRANSACTIONS_VIEW))
    // An imported PaySim dataset's type column is an ENUM, which the rules compare with values of its own.
    await duck.connection.run(createTransactionTypeSql())
    await duck.connection.run(`ALTER TABLE ${TRANSACTIONS_VIEW} ALTER type TYPE ${TRANSACTION_TYPE_ENUM}`)
    await appendTransactions(duck.connection, TRANSACTIONS_VIEW, rows)
    const rules = manyRules()

    const states = new Map<string, UserState>()
    const matcher = createListMatcher([])
    const expected = {
      tp: 0,
      fp: 0,
      fn: 0,
      tn: 0,
      decisions: { approve: 0, review: 0, block: 0 },
      caughtCents: 0,
      missedCents: 0,
      days: new Map<string, { alerts: number; fraudCaught: number }>(),
      hits: new Map<string, { fired: number; firedOnFraud: number }>(),
    }
    for (const row of rows) {
      const state = states.get(row.user_id) ?? emptyUserState()
      states.set(row.user_id, state)
      const { score } = scoreTransaction(row, state, rules, matcher)
      const alert = score.decision !== 'approve'
      const cents = Math.round(Number(row.amount) * 100)
      expected.decisions[score.decision]++
      if (alert && row.label) expected.tp++
      else if (alert) expected.fp++
      else if (row.label) expected.fn++
      else expected.tn++
      if (row.label) {
        if (alert) expected.caughtCents += cents
        else expected.missedCents += cents
      }
      const day = `${row.ts.slice(0, 10)} ${row.ts.slice(11, 13)}:00`
      const perDay = expected.days.get(day) ?? { alerts: 0, fraudCaught: 0 }
      if (alert) perDay.alerts++
      if (alert && row.label) perDay.fraudCaught++
      expected.days.set(day, perDay)
      for (const reason of score.reasons) {
        const hit = expected.hits.get(reason.rule) ?? { fired: 0, firedOnFraud: 0 }
        hit.fired++
        if (row.label) hit.firedOnFraud++
        expected.hits.set(reason.rule, hit)
      }
    }

    const result = await runBacktest(duck.connection, rules)

    expect(result.rows).toBe(rows.length)
    expect(result.confusion).toEqual({
      truePositives: expected.tp,
      falsePositives: expected.fp,
      falseNegatives: expected.fn,
      trueNegatives: expected.tn,
    })
    expect(result.decisions).toEqual(expected.decisions)
    expect(Math.round(Number(result.fraudAmountCaught) * 100)).toBe(expected.caughtCents)
    expect(Math.round(Number(result.fraudAmountMissed) * 100)).toBe(expected.missedCents)
    expect(result.alertsOverTime.bucket).toBe('hour')
    expect(result.alertsOverTime.points).toEqual(
      [...expected.days]
        .map(([start, figures]) => ({ start, ...figures }))
        .sort((a, b) => (a.start < b.start ? -1 : 1)),
    )
    const enabled = rules.rules.filter((rule) => rule.enabled)
    expect(enabled.length).toBeGreaterThan(60)
    expect(result.ruleHits).toEqual(
      enabled.map((rule) => ({
        rule: rule.id,
        fired: expected.hits.get(rule.id)?.fired ?? 0,
        firedOnFraud: expected.hits.get(rule.id)?.firedOnFraud ?? 0,
      })),
    )
    // The traffic exercises what it is meant to: alerts, misses and rules past the first mask.
    expect(expected.tp * expected.fp * expected.fn).toBeGreaterThan(0)
    expect(result.ruleHits.at(-1)?.fired).toBeGreaterThan(0)
    expect(result.alertsOverTime.points.length).toBe(72)

    // With the repeat users kept at import, the same figures.
    await duck.connection.run(createRepeatUsersSql())
    expect(await hasTable(duck.connection, REPEAT_USERS_TABLE)).toBe(true)
    const kept = await runBacktest(duck.connection, rules)
    expect({ ...kept, millis: 0 }).toEqual({ ...result, millis: 0 })
  }, 30_000)

  it('charts alerts per hour over a few days, per day beyond, and keeps rows without a time apart', () => {
    const counts = (alerts: number) => ({ alerts, fraudCaught: alerts > 1 ? 1 : 0 })
    const day = Date.parse('2026-01-01T00:00:00Z') / 3_600_000
    const hourly = alertsOverTime([
      { hour: day, counts: counts(2) },
      { hour: day + 71, counts: counts(3) },
    ])
    expect(hourly).toEqual({
      bucket: 'hour',
      points: [
        { start: '2026-01-01 00:00', alerts: 2, fraudCaught: 1 },
        { start: '2026-01-03 23:00', alerts: 3, fraudCaught: 1 },
      ],
    })
    const daily = alertsOverTime([
      { hour: day, counts: counts(2) },
      { hour: day + 23, counts: counts(1) },
      { hour: day + 72, counts: counts(4) },
      { hour: null, counts: counts(5) },
    ])
    expect(daily).toEqual({
      bucket: 'day',
      points: [
        { start: '2026-01-01', alerts: 3, fraudCaught: 1 },
        { start: '2026-01-04', alerts: 4, fraudCaught: 1 },
        { start: 'no date', alerts: 5, fraudCaught: 1 },
      ],
    })
  })
})
