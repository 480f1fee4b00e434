import type { Transaction } from '../../shared/transaction'
import type { ScoredRow } from './sink'

/**
 * The columns the pipeline writes, each listed once: the INSERT and COPY statements, the unnest()
 * arrays and the COPY text all follow these lists, so they cannot fall out of step.
 * test/integration/store-schema.test.ts holds them to the migrated tables.
 */

export interface Column<R> {
  readonly name: string
  /** The SQL type the values are sent as (an unnest() array of it); the table may convert on insert. */
  readonly type: string
  readonly value: (row: R) => string | number | boolean | null
}

/**
 * A transaction's content columns, in the table's order: what a producer sends, compared when one txn_id
 * arrives twice (STORED_TRANSACTION_COLUMNS adds what the pipeline stores with it).
 */
export const TRANSACTION_COLUMNS: readonly Column<Transaction>[] = [
  { name: 'txn_id', type: 'uuid', value: (txn) => txn.txn_id },
  { name: 'ts', type: 'timestamptz', value: (txn) => txn.ts },
  { name: 'user_id', type: 'text', value: (txn) => txn.user_id },
  { name: 'counterparty_id', type: 'text', value: (txn) => txn.counterparty_id },
  { name: 'type', type: 'text', value: (txn) => txn.type },
  { name: 'amount', type: 'numeric', value: (txn) => txn.amount },
  // char(3) in the table; sent as text as the schema has already checked it is three letters.
  { name: 'currency', type: 'text', value: (txn) => txn.currency },
  { name: 'merchant_type', type: 'text', value: (txn) => txn.merchant_type ?? null },
  { name: 'source_ip', type: 'inet', value: (txn) => txn.source_ip ?? null },
  { name: 'device_id', type: 'text', value: (txn) => txn.device_id ?? null },
  { name: 'balance_before', type: 'numeric', value: (txn) => txn.balance_before ?? null },
  { name: 'balance_after', type: 'numeric', value: (txn) => txn.balance_after ?? null },
  { name: 'cp_balance_before', type: 'numeric', value: (txn) => txn.cp_balance_before ?? null },
  { name: 'cp_balance_after', type: 'numeric', value: (txn) => txn.cp_balance_after ?? null },
  { name: 'label', type: 'boolean', value: (txn) => txn.label ?? null },
]

/**
 * Every column of the `scores` view but scored_at (its transaction's ingested_at), in its order: the
 * score is stored on its transaction's row (0015), and these are its columns there but txn_id.
 */
export const SCORE_COLUMNS: readonly Column<ScoredRow>[] = [
  { name: 'txn_id', type: 'uuid', value: (row) => row.txn.txn_id },
  { name: 'score', type: 'smallint', value: (row) => row.score.score },
  { name: 'decision', type: 'text', value: (row) => row.score.decision },
  { name: 'reasons', type: 'jsonb', value: (row) => JSON.stringify(row.score.reasons) },
  { name: 'model_version', type: 'text', value: (row) => row.score.model_version },
  { name: 'rules_version', type: 'int', value: (row) => row.score.rules_version },
]

/** The score columns of a transaction's row (0015), after its content and API key. */
export const BATCH_SCORE_COLUMNS: readonly Column<ScoredRow>[] = SCORE_COLUMNS.slice(1)

/**
 * Every column of `transactions` but ingested_at (its default), in the table's order: the content, the
 * API key that sent it (0009), then its score (0015). pipeline_commit_batch (0014, 0015) takes them in
 * this order too.
 */
export const STORED_TRANSACTION_COLUMNS: readonly Column<ScoredRow>[] = [
  ...TRANSACTION_COLUMNS.map(({ name, type, value }): Column<ScoredRow> => ({
    name,
    type,
    value: (row) => value(row.txn),
  })),
  { name: 'api_key_id', type: 'bigint', value: (row) => row.apiKeyId ?? null },
  ...BATCH_SCORE_COLUMNS,
]

/** An alert is written with its score's first four columns (the rest come from its case's trigger). */
export const ALERT_COLUMNS: readonly Column<ScoredRow>[] = SCORE_COLUMNS.slice(0, 4)

/** The column names, for an INSERT's or a COPY's column list. */
export const columnNames = (columns: readonly Column<never>[]): string =>
  columns.map((column) => column.name).join(', ')

/** `$first::type[], …`: one array parameter per column, for unnest(). */
export const arrayParameters = (columns: readonly Column<never>[], first: number): string =>
  columns.map((column, index) => `$${first + index}::${column.type}[]`).join(', ')

/** The rows as one array per column, in the columns' order: the parameters arrayParameters names. */
export function columnArrays<R>(columns: readonly Column<R>[], rows: readonly R[]): unknown[][] {
  return columns.map((column) => rows.map(column.value))
}

/** Characters an array element escapes with a backslash inside its double quotes. */
const ELEMENT_SPECIAL = /["\\]/
const ELEMENT_SPECIALS = /["\\]/g

/**
 * One column's values as PostgreSQL's text form of an array (`{"a","b",NULL}`), for a `$n::type[]`
 * parameter: what node-postgres makes of the JS array, every value quoted, built with one join instead of
 * a string concatenation per element (a quarter of what a worker allocated at 5,000 tx/s, issue 13).
 */
export function arrayLiteral<R>(rows: readonly R[], value: Column<R>['value']): string {
  if (rows.length === 0) return '{}'
  const elements = new Array<string | null>(rows.length)
  let nulls = false
  for (let i = 0; i < rows.length; i++) {
    const element = value(rows[i] as R) as string | number | boolean | null | undefined
    if (element === null || element === undefined) {
      nulls = true
      elements[i] = null
    } else {
      const text = typeof element === 'string' ? element : String(element)
      elements[i] = ELEMENT_SPECIAL.test(text) ? text.replace(ELEMENT_SPECIALS, '\\$&') : text
    }
  }
  if (!nulls) return `{"${elements.join('","')}"}`
  return `{${elements.map((element) => (element === null ? 'NULL' : `"${element}"`)).join(',')}}`
}

/** columnArrays' arrays as arrayLiteral's texts: the same parameters, for node-postgres. */
export function columnLiterals<R>(columns: readonly Column<R>[], rows: readonly R[]): string[] {
  return columns.map((column) => arrayLiteral(rows, column.value))
}

const SPECIAL = /[\\\t\n\r]/
const SPECIALS = /[\\\t\n\r]/g
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' }

/** A value in COPY's text format: backslash, tab, newline and carriage return escaped; \N is NULL. */
const copyValue = (value: string | number | boolean | null): string =>
  value === null
    ? '\\N'
    : typeof value === 'string'
      ? SPECIAL.test(value)
        ? value.replace(SPECIALS, (c) => ESCAPES[c] as string)
        : value
      : typeof value === 'boolean'
        ? value
          ? 't'
          : 'f'
        : String(value)

/** The rows in COPY's text format (a line each, tab between values), in the columns' order. */
export function copyText<R>(columns: readonly Column<R>[], rows: readonly R[]): string {
  const lines = new Array<string>(rows.length + 1)
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as R
    let line = copyValue((columns[0] as Column<R>).value(row))
    for (let c = 1; c < columns.length; c++) line += `\t${copyValue((columns[c] as Column<R>).value(row))}`
    lines[i] = line
  }
  lines[rows.length] = ''
  return lines.join('\n')
}
