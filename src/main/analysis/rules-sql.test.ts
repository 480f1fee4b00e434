import { describe, expect, it } from 'vitest'
import { memoryDuckDB } from '../../../test/support/memory-duckdb'
import { T0, txn } from '../../../test/support/transaction-fixture'
import { DEFAULT_RULES, RuleSet, type Rule } from '../../shared/rules'
import type { Transaction } from '../../shared/transaction'
import { MEMORY } from '../scoring/features'
import {
  createListMatcher,
  emptyUserState,
  scoreTransaction,
  type ListEntry,
  type UserState,
} from '../scoring/index'
import { ipKey } from '../scoring/lists'
import { appendTransactions, compileRuleSetToSql, ipKeySql, transactionsTableSql } from './rules-sql'

/** Small, hand-made cases on an in-memory DuckDB; the full sample and generated traffic are in
 * test/integration/scoring-equivalence.test.ts. */

const duck = memoryDuckDB()

const ruleSet = (...rules: Rule[]) =>
  RuleSet.parse({ version: 1, thresholds: { review: 40, block: 80 }, rules })

type Outcome = { score: number; decision: string; fired: string[] }
let tables = 0

/** Scores the transactions, in the order given, with the TypeScript scorer and with the compiled SQL. */
async function bothWays(transactions: Transaction[], rules: RuleSet, lists: ListEntry[] = []) {
  const table = `scenario_${tables++}`
  await duck.connection.run(transactionsTableSql(table))
  await appendTransactions(duck.connection, table, transactions)
  const reader = await duck.connection.runAndReadAll(
    `${compileRuleSetToSql(rules, table, { lists })} ORDER BY seq`,
  )
  const sql: Outcome[] = reader.getRowObjectsJson().map((row) => ({
    score: Number(row.score),
    decision: String(row.decision),
    fired: row.fired as string[],
  }))
  const matcher = createListMatcher(lists)
  const states = new Map<string, UserState>()
  const scorer: Outcome[] = transactions.map((transaction) => {
    const state = states.get(transaction.user_id) ?? emptyUserState()
    states.set(transaction.user_id, state)
    const { score } = scoreTransaction(transaction, state, rules, matcher)
    return { score: score.score, decision: score.decision, fired: score.reasons.map((reason) => reason.rule) }
  })
  return { sql, scorer }
}

const velocityCount = (window: '1m' | '1h' | '24h', max: number): Rule => ({
  id: `count_${window}`,
  kind: 'velocity',
  enabled: true,
  weight: 50,
  window,
  max_count: max,
})

describe('compileRuleSetToSql scores as the scorer does', () => {
  it('counts rows with the same ts as earlier only when they come first', async () => {
    const { sql, scorer } = await bothWays(
      Array.from({ length: 5 }, () => txn()),
      ruleSet(velocityCount('1m', 2)),
    )
    expect(sql).toEqual(scorer)
    expect(scorer.map((outcome) => outcome.score)).toEqual([0, 0, 50, 50, 50])
  })

  it('keeps the window open at the start: a row exactly one window earlier is out', async () => {
    const { sql, scorer } = await bothWays(
      [T0, T0 + 1, T0 + 2, T0 + 60_000, T0 + 60_000].map((at) => txn({ at })),
      ruleSet(velocityCount('1m', 3)),
    )
    expect(sql).toEqual(scorer)
    expect(scorer.map((outcome) => outcome.score)).toEqual([0, 0, 0, 0, 50])
  })

  it('scores late rows at the latest time the user reached', async () => {
    const rows = [
      txn({ at: T0 + 3_600_000 }),
      txn({ at: T0 }),
      txn({ at: T0 + 10 }),
      txn({ at: T0 + 3_600_000 + 5_000 }),
      txn({ at: T0 + 3_600_000 + 3_000_000 }),
    ]
    const { sql, scorer } = await bothWays(rows, ruleSet(velocityCount('1m', 3), velocityCount('1h', 4)))
    expect(sql).toEqual(scorer)
    expect(scorer.map((outcome) => outcome.fired)).toEqual([[], [], [], ['count_1m'], ['count_1h']])
  })

  it('mirrors the scorer’s memory of recent transactions (counts and sums saturate)', async () => {
    const burst = Array.from({ length: MEMORY.recentTransactions + 40 }, (_, i) =>
      txn({ at: T0 + i * 10, amount: `${(i % 7) + 1}.00` }),
    )
    const limit = MEMORY.recentTransactions
    const rules = ruleSet(velocityCount('1m', limit), {
      id: 'sum_1m',
      kind: 'velocity',
      enabled: true,
      weight: 20,
      window: '1m',
      max_sum: '2000.00',
    })
    const { sql, scorer } = await bothWays(burst, rules)
    expect(sql).toEqual(scorer)
    expect(scorer.some((outcome) => outcome.fired.includes('count_1m'))).toBe(true)
    expect(scorer.some((outcome) => outcome.fired.includes('sum_1m'))).toBe(true)
    expect(scorer.some((outcome) => outcome.fired.length === 0)).toBe(true)
  })

  it('mirrors the scorer’s memory of the counterparties and devices of recent transactions', async () => {
    const others = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) =>
        txn({
          at: T0 + from + i,
          counterparty_id: `M${from + i}`,
          ...(i % 3 ? { device_id: `d${i % 5}` } : {}),
        }),
      )
    const regular = (at: number) => txn({ at, counterparty_id: 'regular', device_id: 'phone' })
    const rows = [
      regular(T0),
      ...others(1, MEMORY.recentValues - 1),
      regular(T0 + 1_000),
      ...others(2_000, MEMORY.recentValues),
      regular(T0 + 3_000),
    ]
    const rules = ruleSet(
      {
        id: 'new_counterparty',
        kind: 'new_counterparty',
        enabled: true,
        weight: 10,
        min_amount: '0.00',
        min_history: 1,
      },
      {
        id: 'new_device',
        kind: 'new_device_or_ip',
        enabled: true,
        weight: 20,
        signals: ['device'],
        min_history: 1,
      },
    )
    const { sql, scorer } = await bothWays(rows, rules)
    expect(sql).toEqual(scorer)
    const regulars = scorer
      .filter((_, index) => rows[index]?.counterparty_id === 'regular')
      .map((outcome) => outcome.score)
    // Back within the memory: known; back after it: new again.
    expect(regulars).toEqual([0, 0, 30])
  })

  it('judges amounts against the user’s own earlier amounts', async () => {
    const amounts = [
      '20.00',
      '22.00',
      '19.50',
      '21.00',
      '20.00',
      '400.00',
      '21.00',
      '20.00',
      '20.00',
      '20.00',
      '20.00',
      '95.00',
    ]
    const rules = ruleSet({
      id: 'amount_zscore',
      kind: 'amount_zscore',
      enabled: true,
      weight: 30,
      threshold: 3,
      min_history: 5,
      min_stddev: '1.00',
    })
    const { sql, scorer } = await bothWays(
      amounts.map((amount, i) => txn({ at: T0 + i * 1_000, amount })),
      rules,
    )
    expect(sql).toEqual(scorer)
    expect(scorer.map((outcome) => outcome.score)).toEqual([0, 0, 0, 0, 0, 30, 0, 0, 0, 0, 0, 0])
  })

  it('matches blocklists: users, devices and CIDR networks, v4 and v6, leaving out expired entries', async () => {
    const lists: ListEntry[] = [
      { kind: 'user', value: "C'quoted" },
      { kind: 'device', value: 'dev-stolen' },
      { kind: 'ip', value: '203.0.113.0/24' },
      { kind: 'ip', value: '2001:db8:bad::/48' },
      { kind: 'ip', value: '198.51.100.0/24', expires_at: '2020-01-01T00:00:00Z' },
    ]
    const rows = [
      txn({ user_id: "C'quoted" }),
      txn({ user_id: 'C2', device_id: 'dev-stolen' }),
      txn({ user_id: 'C3', source_ip: '203.0.113.77' }),
      txn({ user_id: 'C4', source_ip: '2001:DB8:BAD:1::9' }),
      txn({ user_id: 'C5', source_ip: '198.51.100.1' }),
      txn({ user_id: 'C6', source_ip: '::ffff:203.0.113.77' }),
      txn({ user_id: 'C7', source_ip: '203.0.114.1' }),
    ]
    const rules = ruleSet({
      id: 'blocklist',
      kind: 'blocklist',
      enabled: true,
      weight: 10,
      lists: ['user', 'counterparty', 'ip', 'device'],
    })
    const { sql, scorer } = await bothWays(rows, rules, lists)
    expect(sql).toEqual(scorer)
    expect(scorer.map((outcome) => outcome.decision)).toEqual([
      'block',
      'block',
      'block',
      'block',
      'approve',
      'approve',
      'approve',
    ])
  })

  it('treats a user’s only transaction as one without history', async () => {
    const rows = [
      txn({ user_id: 'once', counterparty_id: 'M7', device_id: 'd1', amount: '50.00' }),
      txn({ user_id: 'twice', counterparty_id: 'M7', source_ip: '10.0.0.1' }),
      txn({ user_id: 'twice', counterparty_id: 'M8', source_ip: '10.0.0.2', at: T0 + 1 }),
    ]
    const rules = ruleSet(
      {
        id: 'new_counterparty',
        kind: 'new_counterparty',
        enabled: true,
        weight: 10,
        min_amount: '0.00',
        min_history: 0,
      },
      {
        id: 'new_device_or_ip',
        kind: 'new_device_or_ip',
        enabled: true,
        weight: 20,
        signals: ['device', 'ip'],
        min_history: 0,
      },
      velocityCount('1m', 1),
      { id: 'sum_1h', kind: 'velocity', enabled: true, weight: 5, window: '1h', max_sum: '15.00' },
    )
    const { sql, scorer } = await bothWays(rows, rules)
    expect(sql).toEqual(scorer)
    expect(scorer.map((outcome) => outcome.score)).toEqual([30, 30, 85])
  })

  it('scores everything approved with no enabled rule', async () => {
    const rules = RuleSet.parse({
      ...DEFAULT_RULES,
      rules: DEFAULT_RULES.rules.map((rule) => ({ ...rule, enabled: false })),
    })
    const { sql, scorer } = await bothWays([txn({ amount: '99999999.00' })], rules)
    expect(sql).toEqual(scorer)
    expect(scorer).toEqual([{ score: 0, decision: 'approve', fired: [] }])
  })

  it('skips the features of columns the caller says are NULL, scoring the same', async () => {
    const rows = Array.from({ length: 40 }, (_, i) =>
      txn({
        at: T0 + i * 1000,
        user_id: `C${i % 3}`,
        counterparty_id: `M${i % 7}`,
        amount: `${1 + i * 900}.00`,
      }),
    )
    const table = `scenario_${tables++}`
    await duck.connection.run(transactionsTableSql(table))
    await appendTransactions(duck.connection, table, rows)
    const lists: ListEntry[] = [{ kind: 'ip', value: '10.0.0.0/8' }]
    const score = async (sql: string) =>
      (await duck.connection.runAndReadAll(`${sql} ORDER BY seq`))
        .getRowObjectsJson()
        .map((row) => ({ score: Number(row.score), decision: String(row.decision), fired: row.fired }))
    const full = compileRuleSetToSql(DEFAULT_RULES, table, { lists })
    const lean = compileRuleSetToSql(DEFAULT_RULES, table, { lists, nullColumns: ['source_ip', 'device_id'] })
    expect(full).toContain('PARTITION BY user_id, device_id')
    expect(lean).not.toContain('PARTITION BY user_id, device_id')
    expect(lean).not.toContain('PARTITION BY user_id, source_ip')
    expect(lean).not.toContain('__ip_hits')
    const scored = await score(lean)
    expect(scored).toEqual(await score(full))
    expect(scored.some((row) => row.score > 0)).toBe(true)
  })

  it('refuses a table name that is not one', () => {
    expect(() => compileRuleSetToSql(DEFAULT_RULES, 'tx; DROP TABLE x')).toThrow(/not a table name/)
    expect(compileRuleSetToSql(DEFAULT_RULES, 'main.tx')).toContain('FROM "main"."tx"')
  })
})

describe('ipKeySql', () => {
  it('gives the scorer’s key for every address and NULL for every non-address', async () => {
    const samples = [
      '192.0.2.1',
      '0.0.0.0',
      '255.255.255.255',
      '256.0.0.1',
      '01.02.03.004',
      '1.2.3',
      '::',
      '::1',
      '1::',
      '2001:DB8::8:800:200C:417A',
      '2001:db8:0:0:8:800:200c:417a',
      '1:2:3:4:5:6:7:8',
      '1:2:3:4:5:6:7::',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      ':::',
      '12345::',
      '::ffff:192.0.2.1',
      '::ffff:192.0.2.256',
      '64:ff9b::1.2.3.4',
      'a:1.2.3.4',
      'fe80::1%eth0',
      'g::1',
      '',
    ]
    const reader = await duck.connection.runAndReadAll(
      `SELECT ${ipKeySql('ip')} AS key FROM (VALUES ${samples.map((sample) => `('${sample}')`).join(', ')}) AS t(ip)`,
    )
    expect(reader.getRowObjectsJson().map((row) => row.key)).toEqual(samples.map(ipKey))
    expect(samples.map(ipKey).filter((key) => key !== null).length).toBeGreaterThan(8)
  })
})
