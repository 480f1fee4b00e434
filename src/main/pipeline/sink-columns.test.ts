import { describe, expect, it } from 'vitest'
import type { Score, Transaction } from '../../shared/transaction'
import type { ScoredRow } from './sink'
import {
  ALERT_COLUMNS,
  arrayParameters,
  columnArrays,
  columnNames,
  copyText,
  BATCH_SCORE_COLUMNS,
  SCORE_COLUMNS,
  STORED_TRANSACTION_COLUMNS,
  TRANSACTION_COLUMNS,
} from './sink-columns'

/** Every field set, each to a value no other field has; free text carries COPY's special characters. */
const full: Transaction = {
  txn_id: '0b3a3e4c-1d2e-4f5a-9b8c-7d6e5f4a3b2c',
  ts: '2026-01-01T10:00:00.123+02:00',
  user_id: 'C1231006815',
  counterparty_id: 'M1979787155',
  type: 'TRANSFER',
  amount: '9839.64',
  currency: 'USD',
  merchant_type: 'luxury\tgoods\\shop',
  source_ip: '2001:db8::1',
  device_id: 'dev\n1\r',
  balance_before: '170136.00',
  balance_after: '160296.36',
  cp_balance_before: '1.00',
  cp_balance_after: '0.5',
  label: true,
}

/** Only the required fields. */
const bare: Transaction = {
  txn_id: '1b3a3e4c-1d2e-4f5a-9b8c-7d6e5f4a3b2c',
  ts: '2026-01-02T10:00:00Z',
  user_id: 'C2',
  counterparty_id: 'M2',
  type: 'PAYMENT',
  amount: '10.00',
  currency: 'EUR',
}

const score = (decision: Score['decision']): Score => ({
  score: decision === 'approve' ? 3 : 88,
  decision,
  reasons: [{ rule: 'amount', text: 'a\tb \\ c', weight: 40 }],
  model_version: 'm-1',
  rules_version: 7,
})

/** Reads COPY's text format back: one array of values per line, \N as null. */
const parseCopy = (text: string): (string | null)[][] => {
  expect(text.endsWith('\n')).toBe(true)
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) =>
      line
        .split('\t')
        .map((field) =>
          field === '\\N'
            ? null
            : field.replace(/\\(.)/g, (_, c: string) => ({ t: '\t', n: '\n', r: '\r' })[c] ?? c),
        ),
    )
}

/** A transaction's fields as COPY should carry them, by column name. */
const asCopied = (txn: Transaction): Record<string, string | null> =>
  Object.fromEntries(
    TRANSACTION_COLUMNS.map(({ name }) => {
      const value = (txn as Record<string, unknown>)[name]
      return [
        name,
        value === undefined ? null : typeof value === 'boolean' ? (value ? 't' : 'f') : String(value),
      ]
    }),
  )

describe('the transaction columns', () => {
  it('COPY text has one line per transaction, one value per column, each in its column', () => {
    const lines = parseCopy(copyText(TRANSACTION_COLUMNS, [full, bare]))
    expect(lines).toHaveLength(2)
    for (const [index, txn] of [full, bare].entries()) {
      const line = lines[index] as (string | null)[]
      expect(line).toHaveLength(TRANSACTION_COLUMNS.length)
      const byName = Object.fromEntries(TRANSACTION_COLUMNS.map(({ name }, column) => [name, line[column]]))
      expect(byName).toEqual(asCopied(txn))
    }
  })

  it('every field of a transaction has a column, and every column a field', () => {
    expect(TRANSACTION_COLUMNS.map(({ name }) => name).sort()).toEqual(Object.keys(full).sort())
  })

  it('the unnest() arrays follow the same order, absent fields as null', () => {
    const arrays = columnArrays(TRANSACTION_COLUMNS, [full, bare])
    expect(arrays).toHaveLength(TRANSACTION_COLUMNS.length)
    TRANSACTION_COLUMNS.forEach(({ name }, column) => {
      expect(arrays[column], name).toEqual(
        [full, bare].map((txn) => (txn as Record<string, unknown>)[name] ?? null),
      )
    })
  })

  it('the statements name the columns and number their array parameters in that order', () => {
    expect(columnNames(TRANSACTION_COLUMNS).split(', ')).toEqual(TRANSACTION_COLUMNS.map(({ name }) => name))
    const parameters = arrayParameters(TRANSACTION_COLUMNS, 5).split(', ')
    expect(parameters).toHaveLength(TRANSACTION_COLUMNS.length)
    expect(parameters[0]).toBe('$5::uuid[]')
    expect(parameters.at(-1)).toBe(`$${4 + TRANSACTION_COLUMNS.length}::boolean[]`)
  })
})

describe('the stored transaction columns', () => {
  it('are the content, the API key that sent it (NULL when none did), then its score', () => {
    const rows: ScoredRow[] = [
      { txn: full, score: score('block'), apiKeyId: '9223372036854775807' },
      { txn: bare, score: score('approve') },
    ]
    const content = TRANSACTION_COLUMNS.length
    expect(STORED_TRANSACTION_COLUMNS.map(({ name }) => name)).toEqual([
      ...TRANSACTION_COLUMNS.map(({ name }) => name),
      'api_key_id',
      ...BATCH_SCORE_COLUMNS.map(({ name }) => name),
    ])
    const lines = parseCopy(copyText(STORED_TRANSACTION_COLUMNS, rows))
    expect(lines.map((line) => line[content])).toEqual(['9223372036854775807', null])
    expect(lines.map((line) => line.slice(0, content))).toEqual(
      parseCopy(copyText(TRANSACTION_COLUMNS, [full, bare])),
    )
    expect(lines.map((line) => line.slice(content + 1))).toEqual(
      parseCopy(copyText(BATCH_SCORE_COLUMNS, rows)),
    )
  })
})

describe('the score and alert columns', () => {
  const rows: ScoredRow[] = [
    { txn: full, score: score('block') },
    { txn: bare, score: score('approve') },
  ]

  it('COPY text carries each score in its column, reasons as JSON', () => {
    const lines = parseCopy(copyText(SCORE_COLUMNS, rows))
    expect(lines).toEqual(
      rows.map(({ txn, score }) => [
        txn.txn_id,
        String(score.score),
        score.decision,
        JSON.stringify(score.reasons),
        score.model_version,
        String(score.rules_version),
      ]),
    )
    expect(SCORE_COLUMNS.map(({ name }) => name)).toEqual([
      'txn_id',
      'score',
      'decision',
      'reasons',
      'model_version',
      'rules_version',
    ])
  })

  it('an alert is written with its score’s identity, score, decision and reasons', () => {
    expect(columnArrays(ALERT_COLUMNS, rows.slice(0, 1))).toEqual([
      [full.txn_id],
      [88],
      ['block'],
      [JSON.stringify(score('block').reasons)],
    ])
  })
})
