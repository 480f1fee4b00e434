import { basename } from 'node:path'
import { PAYSIM_CURRENCY, PAYSIM_EPOCH, PAYSIM_ROW_NAMESPACE, type PaysimColumn } from '../../shared/paysim'
import { TRANSACTION_TYPES } from '../../shared/transaction'
import { quoteIdentifier, quoteLiteral } from './duck'

/**
 * What an imported dataset's DuckDB file holds:
 * - `source`: the file's rows in file order, with the file's own column names and the types they were read as;
 * - `rejects`: the lines DuckDB could not read, with line number, column and reason;
 * - `source_lines`: `source` plus `__line`, each row's line in the file;
 * - for PaySim, `transactions`: the transaction shape of DATA.md (src/shared/paysim.ts) with `seq` = the
 *   line, plus PaySim's `step` and `is_flagged_fraud`, and `empties_account` (the amount is the whole
 *   balance of the paying account: PaySim's fraud signature).
 */
export const SOURCE_TABLE = 'source'
export const REJECTS_TABLE = 'rejects'
export const SOURCE_LINES_VIEW = 'source_lines'
export const TRANSACTIONS_VIEW = 'transactions'
export const LINE_COLUMN = '__line'

/**
 * PaySim's five types as a DuckDB ENUM: grouping and filtering by type compare small integers, and a line
 * with another type is set aside with its line number, as the stream replay refuses it.
 */
export const TRANSACTION_TYPE_ENUM = 'transaction_type'
export const createTransactionTypeSql = () =>
  `CREATE TYPE ${TRANSACTION_TYPE_ENUM} AS ENUM (${TRANSACTION_TYPES.map((type) => quoteLiteral(type)).join(', ')})`

/** The columns of a PaySim file as read: money as DECIMAL(18,2), never a float; 0/1 flags as booleans. */
export const PAYSIM_CSV_TYPES: Record<PaysimColumn, string> = {
  step: 'INTEGER',
  type: TRANSACTION_TYPE_ENUM,
  amount: 'DECIMAL(18,2)',
  nameOrig: 'VARCHAR',
  oldbalanceOrg: 'DECIMAL(18,2)',
  newbalanceOrig: 'DECIMAL(18,2)',
  nameDest: 'VARCHAR',
  oldbalanceDest: 'DECIMAL(18,2)',
  newbalanceDest: 'DECIMAL(18,2)',
  isFraud: 'BOOLEAN',
  isFlaggedFraud: 'BOOLEAN',
}

/** Names the file in txn_ids (src/shared/paysim.ts): the same file re-imported or replayed gets the same ids. */
export function paysimDatasetKey(path: string, sizeBytes: number): string {
  return `${basename(path)}:${sizeBytes}`
}

/** Columns PaySim does not have: NULL on every row of the transactions view. */
export const PAYSIM_NULL_COLUMNS = ['source_ip', 'device_id'] as const

const PAYSIM_EPOCH_SECONDS = Date.parse(PAYSIM_EPOCH) / 1000

/**
 * txn_id as paysimTxnId() computes it: UUID v5 (SHA-1) of `${datasetKey}:${line}` in PaySim's namespace,
 * from `__h`, the row's SHA-1 in hex (paysimRowHashSql). The integration tests check it against
 * src/shared/paysim.ts row by row.
 */
const TXN_ID_FROM_HASH = `CAST(substr(__h, 1, 8) || '-' || substr(__h, 9, 4) || '-5' || substr(__h, 14, 3) || '-'
    || substr('89ab', ((position(substr(__h, 17, 1) IN '0123456789abcdef') - 1) & 3) + 1, 1)
    || substr(__h, 18, 3) || '-' || substr(__h, 21, 12) AS UUID)`

function paysimRowHashSql(lineExpression: string, datasetKey: string): string {
  const namespace = PAYSIM_ROW_NAMESPACE.replaceAll('-', '')
  return `sha1(unhex('${namespace}') || encode(${quoteLiteral(`${datasetKey}:`)} || CAST(${lineExpression} AS VARCHAR)))`
}

const money = (column: string) => {
  const name = quoteIdentifier(column)
  return `CASE WHEN ${name} >= 0 THEN ${name} END`
}
/** An account of the transaction shape (user_id, counterparty_id) from a PaySim name column. */
export const paysimAccountSql = (column: string) => {
  const name = quoteIdentifier(column)
  return `CASE WHEN length(${name}) BETWEEN 1 AND 128 THEN ${name} END`
}

/**
 * The PaySim → transaction mapping of src/shared/paysim.ts over the typed `source_lines`: a value the
 * mapping refuses is NULL here too. Cheap columns only, so analyses over 6.36M rows stay fast; the row hash
 * behind txn_id is computed only where a query asks for txn_id.
 */
export function paysimTransactionsViewSql(datasetKey: string): string {
  return `CREATE OR REPLACE VIEW ${TRANSACTIONS_VIEW} AS\n${paysimTransactionsSql(datasetKey, SOURCE_LINES_VIEW)}`
}

/** The transactions view's query over `lines` (source_lines or a copy of it); `kept` columns pass through. */
export function paysimTransactionsSql(datasetKey: string, lines: string, kept: string[] = []): string {
  return `SELECT
  ${kept.map((column) => `${quoteIdentifier(column)}, `).join('')}${TXN_ID_FROM_HASH} AS txn_id,
  CASE WHEN step >= 1 THEN to_timestamp(${PAYSIM_EPOCH_SECONDS} + (CAST(step AS BIGINT) - 1) * 3600) END AS ts,
  ${paysimAccountSql('nameOrig')} AS user_id,
  ${paysimAccountSql('nameDest')} AS counterparty_id,
  type,
  CASE WHEN amount > 0 THEN amount END AS amount,
  '${PAYSIM_CURRENCY}' AS currency,
  CAST(NULL AS VARCHAR) AS merchant_type,
  ${PAYSIM_NULL_COLUMNS.map((column) => `CAST(NULL AS VARCHAR) AS ${column}`).join(',\n  ')},
  ${money('oldbalanceOrg')} AS balance_before,
  ${money('newbalanceOrig')} AS balance_after,
  ${money('oldbalanceDest')} AS cp_balance_before,
  ${money('newbalanceDest')} AS cp_balance_after,
  "isFraud" AS label,
  ${LINE_COLUMN} AS seq,
  step,
  "isFlaggedFraud" AS is_flagged_fraud,
  "oldbalanceOrg" > 0 AND amount = "oldbalanceOrg" AS empties_account
FROM (SELECT *, ${paysimRowHashSql(LINE_COLUMN, datasetKey)} AS __h FROM ${lines})`
}

/** Columns of the transactions view that cost a hash per row: computed for a page only, never for a scan. */
export const COSTLY_COLUMNS = new Set(['txn_id'])

/** A page of the transactions view selected without txn_id, with txn_id added for its rows only. */
export function paysimTxnIdPageSql(pageSql: string, datasetKey: string, order: string): string {
  return `SELECT ${TXN_ID_FROM_HASH} AS txn_id, * EXCLUDE (__h)
FROM (SELECT *, ${paysimRowHashSql('seq', datasetKey)} AS __h FROM (${pageSql}) AS page) ${order}`
}
