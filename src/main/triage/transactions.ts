import { sql, type Expression, type SqlBool } from 'kysely'
import type {
  CsvChunk,
  CsvExportRequest,
  TransactionCursor,
  TransactionDetail,
  TransactionFilter,
  TransactionPage,
  TransactionPageRequest,
  TransactionRow,
  TransactionSort,
} from '../../shared/triage-contract'
import { DEFAULT_RULES } from '../../shared/rules'
import { TRANSACTION_COLUMNS, transactionCells } from '../../shared/transaction-cells'
import { Reason, TransactionType, type Decision } from '../../shared/transaction'
import type { StoreDb } from '../store/schema'
import { iso } from './db'
import { TriageNotFoundError } from './errors'

/**
 * The Transactions grid over the store. Pages are keyset-paged: the renderer passes where the last page
 * ended, and every sort order has an index ending in txn_id, so page 1 and page 40,000 cost the same.
 * Filtering on review or block walks the alerts table, which holds exactly those rows.
 */

const ALERT_DECISIONS: readonly Decision[] = ['review', 'block']

interface Plan {
  /** Whether the query starts from alerts (review/block only) instead of all transactions. */
  fromAlerts: boolean
  /** Whether the score must exist: a score filter or sort. */
  needsScore: boolean
}

/**
 * A score at or above every review threshold any rule version ever had cannot belong to an approved
 * transaction, so a filter from there up needs only the alerts too.
 */
const planFor = (filter: TransactionFilter, sort: TransactionSort, alertsFromScore: number): Plan => ({
  fromAlerts:
    (filter.decisions !== undefined &&
      filter.decisions.every((decision) => ALERT_DECISIONS.includes(decision))) ||
    (filter.scoreMin !== undefined &&
      filter.scoreMin >= alertsFromScore &&
      (filter.decisions === undefined || !filter.decisions.includes('approve'))),
  needsScore:
    filter.decisions !== undefined ||
    filter.scoreMin !== undefined ||
    filter.scoreMax !== undefined ||
    sort.column === 'score',
})

/** The sort column and its tie-breaker as SQL, each from a fixed list: nothing from the wire is spliced. */
function sortKey(plan: Plan, column: TransactionSort['column']) {
  switch (column) {
    case 'ts':
      return plan.fromAlerts
        ? { value: sql.ref('a.ts'), txnId: sql.ref('a.txn_id'), cast: sql.raw('timestamptz') }
        : { value: sql.ref('t.ts'), txnId: sql.ref('t.txn_id'), cast: sql.raw('timestamptz') }
    case 'amount':
      return { value: sql.ref('t.amount'), txnId: sql.ref('t.txn_id'), cast: sql.raw('numeric') }
    case 'score':
      return { value: sql.ref('t.score'), txnId: sql.ref('t.txn_id'), cast: sql.raw('integer') }
  }
}

interface PageQuery {
  filter: TransactionFilter
  sort: TransactionSort
  limit: number
  offset?: number
  after?: TransactionCursor
  /** The lowest score that implies an alert (see reviewThresholdCeiling). */
  alertsFromScore: number
}

/** The highest review threshold of the built-in rules and of every saved version. */
export async function reviewThresholdCeiling(db: StoreDb): Promise<number> {
  const { rows } = await sql<{ ceiling: number | null }>`
    SELECT max((definition -> 'thresholds' ->> 'review')::int) AS ceiling FROM rules`.execute(db)
  return Math.max(DEFAULT_RULES.thresholds.review, rows[0]?.ceiling ?? 0)
}

/** A transaction with its score and the case its alert joined: the row every grid and history shows. */
const scoredTransactions = (db: StoreDb) =>
  db
    .selectFrom('transactions as t')
    .leftJoin('alerts as a', 'a.txn_id', 't.txn_id')
    // Which Decision API key sent it (0009), by the name analysts may read (0012).
    .leftJoin('api_key_names as k', 'k.id', 't.api_key_id')
    .select([
      't.txn_id',
      't.ts',
      't.user_id',
      't.counterparty_id',
      't.type',
      't.amount',
      't.currency',
      't.merchant_type',
      sql<string | null>`host(t.source_ip)`.as('source_ip'),
      't.device_id',
      't.score',
      't.decision',
      't.reasons',
      'a.case_id',
      sql<string | null>`t.api_key_id::text`.as('api_key_id'),
      'k.name as api_key_name',
      'k.revoked as api_key_revoked',
    ])

/** A LIKE pattern matching what starts with the text, its own % _ and \\ taken literally. */
export const startsWith = (text: string) => `${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

/** Builds the grid's SELECT; exported so the benchmark can EXPLAIN exactly what the grid runs. */
export function transactionPageQuery(db: StoreDb, query: PageQuery) {
  const { filter, sort } = query
  const plan = planFor(filter, sort, query.alertsFromScore)
  const key = sortKey(plan, sort.column)
  const direction = sort.direction === 'asc' ? sql.raw('ASC') : sql.raw('DESC')

  // One join shape for every plan; a strict condition on alerts turns its LEFT JOIN into an
  // inner one, and the planner then starts from whichever index fits the sort and filter.
  let builder = scoredTransactions(db).select(sql<string>`${key.value}::text`.as('cursor_value'))
  if (plan.fromAlerts) builder = builder.where('a.decision', 'is not', null)
  if (plan.needsScore) builder = builder.where('t.score', 'is not', null)

  const tsColumn = plan.fromAlerts ? 'a.ts' : 't.ts'
  if (plan.fromAlerts && filter.decisions !== undefined)
    builder = builder.where('a.decision', 'in', filter.decisions)
  else if (filter.decisions !== undefined) builder = builder.where('t.decision', 'in', filter.decisions)
  if (filter.scoreMin !== undefined) builder = builder.where('t.score', '>=', filter.scoreMin)
  if (filter.scoreMax !== undefined) builder = builder.where('t.score', '<=', filter.scoreMax)
  if (filter.types !== undefined) builder = builder.where('t.type', 'in', filter.types)
  if (filter.from !== undefined) builder = builder.where(tsColumn, '>=', new Date(filter.from))
  if (filter.to !== undefined) builder = builder.where(tsColumn, '<', new Date(filter.to))
  // An ID or its beginning: the text_pattern_ops indexes of 0013 answer both.
  if (filter.userId !== undefined)
    builder = builder.where(plan.fromAlerts ? 'a.user_id' : 't.user_id', 'like', startsWith(filter.userId))
  if (filter.counterpartyId !== undefined)
    builder = builder.where('t.counterparty_id', 'like', startsWith(filter.counterpartyId))

  if (query.after !== undefined) {
    const comparison = sort.direction === 'asc' ? sql.raw('>') : sql.raw('<')
    const after: Expression<SqlBool> = sql<SqlBool>`(${key.value}, ${key.txnId}) ${comparison} (${query.after.value}::${key.cast}, ${query.after.txnId}::uuid)`
    builder = builder.where(after)
  }

  builder = builder.orderBy(sql`${key.value} ${direction}`).orderBy(sql`${key.txnId} ${direction}`)
  builder = builder.limit(query.limit)
  if (query.after === undefined && query.offset !== undefined && query.offset > 0)
    builder = builder.offset(query.offset)
  return builder
}

type PageRow = Awaited<ReturnType<ReturnType<typeof transactionPageQuery>['execute']>>[number]

const parseReasons = (value: unknown): Reason[] => {
  const parsed = Reason.array().safeParse(value)
  return parsed.success ? parsed.data : []
}

export function toTransactionRow(row: {
  txn_id: string
  ts: Date | string
  user_id: string
  counterparty_id: string
  type: string
  amount: string
  currency: string
  merchant_type: string | null
  source_ip: string | null
  device_id: string | null
  score: number | null
  decision: string | null
  reasons: unknown
  case_id: number | null
  api_key_id?: string | null
  api_key_name?: string | null
  api_key_revoked?: boolean | null
}): TransactionRow {
  return {
    txnId: row.txn_id,
    ts: iso(row.ts),
    userId: row.user_id,
    counterpartyId: row.counterparty_id,
    type: TransactionType.parse(row.type),
    amount: row.amount,
    currency: row.currency.trim(),
    merchantType: row.merchant_type,
    sourceIp: row.source_ip,
    deviceId: row.device_id,
    score: row.score,
    decision: row.decision === null ? null : (row.decision as Decision),
    reasons: parseReasons(row.reasons),
    caseId: row.case_id,
    sentBy:
      row.api_key_id === null || row.api_key_id === undefined
        ? null
        : { keyId: row.api_key_id, name: row.api_key_name ?? null, revoked: row.api_key_revoked === true },
  }
}

const cursorOf = (row: PageRow): TransactionCursor => ({ value: row.cursor_value, txnId: row.txn_id })

export async function transactionPage(
  db: StoreDb,
  request: TransactionPageRequest,
): Promise<TransactionPage> {
  const alertsFromScore = request.filter.scoreMin === undefined ? 101 : await reviewThresholdCeiling(db)
  const rows = await transactionPageQuery(db, { ...request, alertsFromScore }).execute()
  const last = rows.at(-1)
  return {
    rows: rows.map(toTransactionRow),
    next: rows.length === request.limit && last !== undefined ? cursorOf(last) : null,
  }
}

const HISTORY_ROWS = 30

export async function transactionDetail(db: StoreDb, txnId: string): Promise<TransactionDetail> {
  const row = await scoredTransactions(db)
    .select([
      't.balance_before',
      't.balance_after',
      't.cp_balance_before',
      't.cp_balance_after',
      't.label',
      't.model_version',
      't.rules_version',
    ])
    .where('t.txn_id', '=', txnId)
    .executeTakeFirst()
  if (row === undefined) throw new TriageNotFoundError(`Transaction ${txnId} is not in the store.`)
  const history = await userHistory(db, row.user_id, row.ts, HISTORY_ROWS)
  return {
    transaction: {
      ...toTransactionRow(row),
      balanceBefore: row.balance_before,
      balanceAfter: row.balance_after,
      cpBalanceBefore: row.cp_balance_before,
      cpBalanceAfter: row.cp_balance_after,
      label: row.label,
      modelVersion: row.model_version,
      rulesVersion: row.rules_version,
    },
    history,
  }
}

/** A user's transactions up to a moment, newest first (the index on user_id, ts answers it). */
export async function userHistory(
  db: StoreDb,
  userId: string,
  until: Date | string | null,
  limit: number,
): Promise<TransactionRow[]> {
  let query = scoredTransactions(db).where('t.user_id', '=', userId)
  if (until !== null) query = query.where('t.ts', '<=', until instanceof Date ? until : new Date(until))
  const rows = await query.orderBy('t.ts', 'desc').orderBy('t.txn_id', 'desc').limit(limit).execute()
  return rows.map(toTransactionRow)
}

// ---------------------------------------------------------------------------------------------------------
// CSV export

/** RFC 4180 quoting; a leading = + - @ is defused so a spreadsheet never runs a cell as a formula. */
export function csvCell(value: string | number | null): string {
  if (value === null) return ''
  let text = String(value)
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

const csvLine = (row: TransactionRow) => transactionCells(row).map(csvCell).join(',')

const EXPORT_PAGE = 2000

/** Streams the filtered rows as CSV pages until maxRows or the end; the consumer's abort stops it. */
export async function* exportCsv(
  db: StoreDb,
  request: CsvExportRequest,
  signal?: AbortSignal,
): AsyncGenerator<CsvChunk> {
  let after: TransactionCursor | undefined
  let sent = 0
  yield { csv: `${TRANSACTION_COLUMNS.join(',')}\r\n`, rows: 0, done: false }
  while (sent < request.maxRows && signal?.aborted !== true) {
    const limit = Math.min(EXPORT_PAGE, request.maxRows - sent)
    const page = await transactionPage(db, {
      filter: request.filter,
      sort: request.sort,
      offset: 0,
      limit,
      after,
    })
    sent += page.rows.length
    const csv = page.rows.map((row) => `${csvLine(row)}\r\n`).join('')
    if (page.next === null) {
      yield { csv, rows: sent, done: true }
      return
    }
    yield { csv, rows: sent, done: false }
    after = page.next
  }
  yield { csv: '', rows: sent, done: true }
}
