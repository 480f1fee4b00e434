import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  appendTransactions,
  compileRuleSetToSql,
  transactionsTableSql,
} from '../../src/main/analysis/rules-sql'
import { GENERATOR_BLOCKLIST, generateTransactions } from '../../src/main/scoring/generator'
import {
  createListMatcher,
  emptyUserState,
  scoreTransaction,
  type ListEntry,
  type UserState,
} from '../../src/main/scoring/index'
import { PaysimRowError, parsePaysimLine, paysimTransactionsSql } from '../../src/shared/paysim'
import { DEFAULT_RULES, RuleSet } from '../../src/shared/rules'
import type { Transaction } from '../../src/shared/transaction'

/**
 * One source of truth: the streaming scorer (TypeScript, row by row) and the backtest (the rule set
 * compiled to DuckDB SQL) must give every transaction the same score and decision. Real DuckDB, the real
 * PaySim sample, and generated traffic that exercises what PaySim cannot (repeated users, bursts, lists).
 */

const SAMPLE = join(import.meta.dirname, '../../resources/paysim-first-20k.csv')
const DATASET_KEY = 'paysim-first-20k.csv'

let instance: DuckDBInstance
let connection: DuckDBConnection
let scratch: string
beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:')
  connection = await instance.connect()
  scratch = await mkdtemp(join(tmpdir(), 'aether-scoring-'))
})
afterAll(async () => {
  connection.closeSync()
  instance.closeSync()
  await rm(scratch, { recursive: true, force: true })
})

/** Imports a PaySim CSV with the SQL mapping; `line` is the file line (header = 1). */
async function importPaysim(file: string, table: string) {
  const path = file.replaceAll("'", "''")
  await connection.run(
    `CREATE TABLE ${table}_raw AS SELECT * FROM read_csv('${path}', header = true, all_varchar = true)`,
  )
  await connection.run(
    `CREATE TABLE ${table} AS ${paysimTransactionsSql({
      relation: `(SELECT *, rowid + 2 AS line FROM ${table}_raw)`,
      datasetKey: DATASET_KEY,
      lineColumn: 'line',
    })}`,
  )
}

/** The mapped rows as text, to compare with the TypeScript mapping field by field. */
async function mappedRows(table: string) {
  const reader = await connection.runAndReadAll(
    `SELECT seq, CAST(txn_id AS VARCHAR) AS txn_id, epoch_ms(ts) AS ts_ms, user_id, counterparty_id, type,
       CAST(amount AS VARCHAR) AS amount, currency, merchant_type, source_ip, device_id,
       CAST(balance_before AS VARCHAR) AS balance_before, CAST(balance_after AS VARCHAR) AS balance_after,
       CAST(cp_balance_before AS VARCHAR) AS cp_balance_before, CAST(cp_balance_after AS VARCHAR) AS cp_balance_after,
       label
     FROM ${table} ORDER BY seq`,
  )
  return reader.getRowObjectsJson()
}

function asRow(txn: Transaction, seq: number) {
  return {
    seq: String(seq),
    txn_id: txn.txn_id,
    ts_ms: String(Date.parse(txn.ts)),
    user_id: txn.user_id,
    counterparty_id: txn.counterparty_id,
    type: txn.type,
    amount: txn.amount,
    currency: txn.currency,
    merchant_type: null,
    source_ip: null,
    device_id: null,
    balance_before: txn.balance_before,
    balance_after: txn.balance_after,
    cp_balance_before: txn.cp_balance_before,
    cp_balance_after: txn.cp_balance_after,
    label: txn.label,
  }
}

type Outcome = { score: number; decision: string; fired: string[]; label: boolean | null }

async function scoreWithSql(table: string, rules: RuleSet, lists: readonly ListEntry[], now: Date) {
  const reader = await connection.runAndReadAll(
    `${compileRuleSetToSql(rules, table, { lists, now })} ORDER BY seq`,
  )
  return reader.getRowObjectsJson().map((row): Outcome => ({
    score: Number(row.score),
    decision: String(row.decision),
    fired: row.fired as string[],
    label: row.label as boolean | null,
  }))
}

/** The streaming scorer over transactions in seq order, one state per user. */
function scoreWithScorer(
  transactions: readonly Transaction[],
  rules: RuleSet,
  lists: readonly ListEntry[],
  now: Date,
) {
  const matcher = createListMatcher(lists, now)
  const states = new Map<string, UserState>()
  return transactions.map((txn): Outcome => {
    const state = states.get(txn.user_id) ?? emptyUserState()
    states.set(txn.user_id, state)
    const { score } = scoreTransaction(txn, state, rules, matcher)
    return {
      score: score.score,
      decision: score.decision,
      fired: score.reasons.map((reason) => reason.rule),
      label: txn.label ?? null,
    }
  })
}

/** Compares outcome by outcome and names the first rows that differ, so a failure says where. */
function expectSameOutcomes(sql: Outcome[], scorer: Outcome[]) {
  expect(sql.length).toBe(scorer.length)
  const differing = scorer
    .map((outcome, index) => ({ index, scorer: outcome, sql: sql[index] }))
    .filter((row) => JSON.stringify(row.scorer) !== JSON.stringify(row.sql))
  expect(differing.slice(0, 5)).toEqual([])
}

function detection(outcomes: readonly Outcome[]) {
  let truePositives = 0
  let falsePositives = 0
  let falseNegatives = 0
  for (const outcome of outcomes) {
    const flagged = outcome.decision !== 'approve'
    if (flagged && outcome.label) truePositives++
    else if (flagged) falsePositives++
    else if (outcome.label) falseNegatives++
  }
  return {
    flagged: truePositives + falsePositives,
    fraud: truePositives + falseNegatives,
    caught: truePositives,
    precision: truePositives / Math.max(1, truePositives + falsePositives),
    recall: truePositives / Math.max(1, truePositives + falseNegatives),
  }
}

const NOW = new Date('2026-06-01T00:00:00Z')
const pct = (value: number) => `${(value * 100).toFixed(1)}%`

describe('PaySim mapping', () => {
  it('maps every row of the sample identically in TypeScript and in DuckDB SQL', async () => {
    await importPaysim(SAMPLE, 'sample_mapped')
    const lines = (await readFile(SAMPLE, 'utf8')).split('\n')
    const sql = await mappedRows('sample_mapped')
    const expected = lines
      .map((text, index) => ({ text, line: index + 1 }))
      .filter(({ text, line }) => line > 1 && text.trim() !== '')
      .map(({ text, line }) => asRow(parsePaysimLine(text, { datasetKey: DATASET_KEY, line }), line))
    expect(sql.length).toBe(expected.length)
    expect(sql).toEqual(expected)
  })

  it('rounds, reads exponents and refuses bad values the same way in both', async () => {
    const lines = [
      'step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud',
      '1,PAYMENT,1.005,C1,1.92E+07,5e-3,M1,0.995,4.9e-3,0,0',
      '2,TRANSFER, 12.5 ,C2,007.10,123456789.123e-2,C3,0,0,1,0',
      '3,TRANSFER,0,C4,0,0,C5,0,0,1,0',
      '4,REFUND,5,C6,0,0,C7,0,0,0,0',
      '0,CASH_OUT,5,C8,0,0,C9,0,0,0,0',
      '5,CASH_OUT,5,C10,-1,0,C11,0,0,0,0',
      '6,DEBIT,5,C12,0,0,C13,0,0,maybe,0',
    ]
    const file = join(scratch, 'edge.csv')
    await writeFile(file, `${lines.join('\n')}\n`)
    await importPaysim(file, 'edge_mapped')
    const sql = await mappedRows('edge_mapped')
    const nullColumn = {
      amount: 'amount',
      type: 'type',
      step: 'ts_ms',
      oldbalanceOrg: 'balance_before',
      isFraud: 'label',
    }
    for (const [index, text] of lines.entries()) {
      if (index === 0) continue
      const line = index + 1
      const row = sql.find((candidate) => candidate.seq === String(line))
      try {
        expect(row).toEqual(asRow(parsePaysimLine(text, { datasetKey: DATASET_KEY, line }), line))
      } catch (error) {
        if (!(error instanceof PaysimRowError)) throw error
        // What TypeScript refuses with a line number, SQL leaves NULL for the quality report.
        const column = nullColumn[error.column as keyof typeof nullColumn]
        expect(column, error.message).toBeDefined()
        expect(row?.[column], error.message).toBeNull()
      }
    }
  })
})

describe('the default rules score the same in the stream and in the backtest', () => {
  it('on every row of the real PaySim sample, and catch its fraud', async () => {
    await importPaysim(SAMPLE, 'sample')
    const lines = (await readFile(SAMPLE, 'utf8')).split('\n')
    const transactions = lines
      .map((text, index) => ({ text, line: index + 1 }))
      .filter(({ text, line }) => line > 1 && text.trim() !== '')
      .map(({ text, line }) => parsePaysimLine(text, { datasetKey: DATASET_KEY, line }))

    const sql = await scoreWithSql('sample', DEFAULT_RULES, [], NOW)
    const scorer = scoreWithScorer(transactions, DEFAULT_RULES, [], NOW)
    expectSameOutcomes(sql, scorer)

    const result = detection(scorer)
    console.info(
      `DEFAULT_RULES v${DEFAULT_RULES.version} on the PaySim sample (${scorer.length} rows, ${result.fraud} fraud): ` +
        `flagged ${result.flagged} (review + block), caught ${result.caught}, ` +
        `precision ${pct(result.precision)}, recall ${pct(result.recall)}`,
    )
    expect(result.fraud).toBe(transactions.filter((txn) => txn.label).length)
    // Useful on the data it was tuned on: most fraud caught, and most alerts are fraud.
    expect(result.recall).toBeGreaterThanOrEqual(0.9)
    expect(result.precision).toBeGreaterThanOrEqual(0.9)
  })

  const lists: ListEntry[] = [
    ...GENERATOR_BLOCKLIST,
    { kind: 'ip', value: '198.51.100.64/26' },
    { kind: 'ip', value: '2001:db8:1::/120' },
    { kind: 'device', value: 'dev-7' },
    { kind: 'user', value: 'C1000039595' },
    { kind: 'counterparty', value: 'C2000000003' },
    { kind: 'ip', value: '198.51.100.0/24', expires_at: '2026-01-01T00:00:00Z' },
  ]
  const traffic = generateTransactions(
    { seed: 2026, users: 400, meanGapMs: 2_000, fraudRate: 0.01 },
    30_000,
  ).map(({ txn }) => txn)
  const everyRule = RuleSet.parse({
    ...DEFAULT_RULES,
    rules: DEFAULT_RULES.rules.map((rule) => ({ ...rule, enabled: true })),
  })
  const variants: { name: string; rules: RuleSet; transactions: Transaction[] }[] = [
    { name: 'as generated', rules: DEFAULT_RULES, transactions: traffic },
    {
      // Whole 10 s steps: many equal timestamps, ordered only by seq.
      name: 'with ties',
      rules: DEFAULT_RULES,
      transactions: traffic.map((txn) => ({
        ...txn,
        ts: new Date(Math.floor(Date.parse(txn.ts) / 10_000) * 10_000).toISOString(),
      })),
    },
    {
      // Every 20th transaction arrives up to 3 minutes late; every rule on.
      name: 'with late events, every rule on',
      rules: everyRule,
      transactions: traffic.map((txn, index) =>
        index % 20 === 7
          ? { ...txn, ts: new Date(Date.parse(txn.ts) - ((index * 7_919) % 180_000)).toISOString() }
          : txn,
      ),
    },
  ]

  it.each(variants.map((variant, index) => [variant.name, index] as const))(
    'on generated traffic %s',
    async (name, index) => {
      const variant = variants[index] as (typeof variants)[number]
      const table = `generated_${index}`
      await connection.run(transactionsTableSql(table))
      await appendTransactions(connection, table, variant.transactions)
      const sql = await scoreWithSql(table, variant.rules, lists, NOW)
      const scorer = scoreWithScorer(variant.transactions, variant.rules, lists, NOW)
      expectSameOutcomes(sql, scorer)

      const fired = new Set(scorer.flatMap((outcome) => outcome.fired))
      const expectedToFire = variant.rules.rules
        .filter((rule) => rule.enabled && rule.kind !== 'high_value')
        .map((rule) => rule.id)
      expect(expectedToFire.filter((id) => !fired.has(id))).toEqual([])
      const users = new Set(variant.transactions.map((txn) => txn.user_id)).size
      console.info(
        `generated traffic ${name}: ${scorer.length} rows of ${users} users (dense on purpose, to exercise ` +
          `velocity and memory), identical in SQL and TypeScript; rules fired: ${[...fired].sort().join(', ')}`,
      )
    },
  )
})
