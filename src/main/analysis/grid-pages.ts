import type { DuckDBType } from '@duckdb/node-api'
import type {
  GroupRequest,
  GroupResult,
  RowsPage,
  RowsRequest,
  SortItem,
} from '../../shared/datasets-contract'
import { asNumber, asText, quoteIdentifier, readOne, readRows, readRowsAndLast, type Params } from './duck'
import { SortedOrders, type SortedOrder } from './grid-orders'
import { afterRowCondition, orderClause, sortKeys, whereClause, type PageEnd } from './grid-sql'
import { gridTarget, onTarget, type GridTarget } from './grid-target'
import type { InstancePool } from './instance-pool'
import { paysimTxnIdPageSql } from './layout'

/**
 * The grid's pages and groups. A sorted page is read by its position in the sort's order (grid-orders.ts)
 * once that is built; until then, it remembers its last row and the next one is read from there on, not
 * by OFFSET, which keeps every row before the page (a million of them a million rows deep).
 */

/** Sorted pages whose last row is remembered, at most (a grid scrolled through remembers one a page). */
const PAGE_ENDS_KEPT = 512

/** What names an ordering of a dataset's rows: the grid's source, filter and sort. */
export type PageOrdering = Pick<RowsRequest, 'datasetId' | 'source' | 'filter' | 'sort'>

/**
 * The sort keys of the last row of recent sorted pages, by dataset, database file, source, filter, sort
 * and end row; the least recently remembered are forgotten first.
 */
export class PageEnds {
  private readonly ends = new Map<string, PageEnd>()

  constructor(private readonly kept = PAGE_ENDS_KEPT) {}

  get(ordering: PageOrdering, generation: string, row: number): PageEnd | undefined {
    return this.ends.get(pageEndKey(ordering, generation, row))
  }

  remember(ordering: PageOrdering, generation: string, row: number, end: PageEnd): void {
    const key = pageEndKey(ordering, generation, row)
    this.ends.delete(key)
    this.ends.set(key, end)
    for (const oldest of this.ends.keys()) {
      if (this.ends.size <= this.kept) break
      this.ends.delete(oldest)
    }
  }

  /** What a dataset's pages ended with may not be true of what is opened next under the same id. */
  forget(datasetId: string): void {
    for (const key of this.ends.keys()) if (key.startsWith(`${datasetId}\n`)) this.ends.delete(key)
  }
}

/**
 * Dataset first, so a dataset's entries can be forgotten, and its database file, so a page read from a
 * file re-imported since (same id, new file) is never read on from.
 */
const pageEndKey = (ordering: PageOrdering, generation: string, row: number) =>
  `${ordering.datasetId}\n${generation}\n${JSON.stringify([ordering.source, ordering.filter, ordering.sort])}@${row}`

/** The part of a grid target a page's SQL is made from. */
export type PageSource = Pick<GridTarget, 'relation' | 'columns' | 'select' | 'tieBreaker' | 'datasetKey'>

export interface PageQuery {
  sql: string
  params: Params
  /** Each parameter's type, where it must be bound as exactly what DuckDB gave (a page end's values). */
  types: (DuckDBType | undefined)[]
  /** The count of every row the filter keeps. */
  countSql: string
  countParams: Params
  /** The sort keys a page end remembers; empty when unsorted (no page end is kept). */
  keys: SortItem[]
  /** The tie breaker, read with the page but not shown. */
  hiddenTie: string | null
}

/** The tie breaker of a sorted page; unsorted or over a console query, pages are read by OFFSET only. */
const pageTie = (request: RowsRequest, target: PageSource): string | null =>
  request.sort.length > 0 ? target.tieBreaker : null

/**
 * The SQL of a grid page: its rows in the sort's `ordered` positions, where given (the filter is in
 * them); else after `from`, the previous page's last row, where given; else by OFFSET.
 */
export function pageQuery(
  request: RowsRequest,
  target: PageSource,
  from: PageEnd | undefined,
  ordered?: Pick<SortedOrder, 'pageRows'>,
): PageQuery {
  const params: Params = []
  const where = whereClause(request.filter, target.columns, params)
  const order = orderClause(request.sort, target.columns, target.tieBreaker)
  const limit = request.endRow - request.startRow
  const tie = pageTie(request, target)
  const keys = tie === null ? [] : sortKeys(request.sort, tie)
  const pageParams = ordered === undefined ? [...params] : []
  const pageTypes: (DuckDBType | undefined)[] = []
  const readOn = from !== undefined && tie !== null && ordered === undefined
  const after = readOn ? afterRowCondition(keys, from, target.columns, tie, pageParams, pageTypes) : ''
  const conditions = [ordered === undefined ? where.replace(/^WHERE /, '') : '', after].filter(
    (part) => part !== '',
  )
  const pageWhere = conditions.length === 0 ? '' : `WHERE (${conditions.join(') AND (')})`
  const range =
    ordered !== undefined ? '' : readOn ? `LIMIT ${limit}` : `LIMIT ${limit} OFFSET ${request.startRow}`
  const relation = ordered?.pageRows(request.startRow, request.endRow) ?? target.relation
  // The tie breaker is read with the page to remember its last row, where it is not a column shown.
  const hiddenTie = tie !== null && !target.columns.has(tie) ? tie : null
  const select = hiddenTie === null ? target.select : `${target.select}, ${quoteIdentifier(hiddenTie)}`
  let sql = `SELECT ${select} FROM ${relation} ${pageWhere} ${order} ${range}`
  if (target.datasetKey !== null) sql = paysimTxnIdPageSql(sql, target.datasetKey, order || 'ORDER BY seq')
  return {
    sql,
    params: pageParams,
    types: pageTypes,
    countSql: `SELECT count(*) AS n FROM ${target.relation} ${where}`,
    countParams: params,
    keys,
    hiddenTie,
  }
}

export interface GridPagesOptions {
  /**
   * A sorted page from this row on is read after the previous page's last row, when that page was read,
   * instead of by OFFSET (default 10,000: shallower, OFFSET is as fast).
   */
  keysetFrom?: number
  /** Whether a sorted page is read by position once the sort's order is built (default true). */
  sortedOrders?: boolean
}

export class GridPages {
  private readonly pageEnds = new PageEnds()
  private readonly orders: SortedOrders | undefined

  constructor(
    private readonly pool: InstancePool,
    private readonly options: GridPagesOptions = {},
  ) {
    this.orders = options.sortedOrders === false ? undefined : new SortedOrders()
  }

  /** A page of the grid; a caller that gives up (the grid went away) stops its queries. */
  async rows(request: RowsRequest, signal?: AbortSignal): Promise<RowsPage> {
    const started = performance.now()
    const target = await gridTarget(this.pool, request.datasetId, request.source)
    const tie = pageTie(request, target)
    const ordered = request.source.kind === 'dataset' ? this.orders?.take(request, target) : undefined
    const from =
      tie !== null && ordered === undefined && request.startRow >= (this.options.keysetFrom ?? 10_000)
        ? this.pageEnds.get(request, target.generation, request.startRow)
        : undefined
    const query = pageQuery(request, target, from, ordered)
    let page: Awaited<ReturnType<typeof readRowsAndLast>>
    let rowCount: number | null
    try {
      // The page and the count run side by side, each on a connection of its own.
      const counting =
        request.withCount !== true
          ? Promise.resolve(null)
          : ordered !== undefined
            ? Promise.resolve(ordered.rows)
            : onTarget(request.source, target, signal, async (connection) => {
                const counted = await readOne(connection, query.countSql, query.countParams)
                return asNumber(counted.n)
              })
      ;[page, rowCount] = await Promise.all([
        onTarget(request.source, target, signal, (connection) =>
          readRowsAndLast(connection, query.sql, query.params, query.types),
        ),
        counting,
      ])
    } finally {
      if (ordered !== undefined) this.orders?.release(ordered)
    }
    // The first page of a sort is read without its order, which is built after it, in the background.
    if (tie !== null && ordered === undefined && request.source.kind === 'dataset' && target.rows !== null)
      void this.orders?.build(request, target, target.rows)
    const last = page.last
    const limit = request.endRow - request.startRow
    if (tie !== null && last !== undefined && page.rows.length === limit)
      this.pageEnds.remember(request, target.generation, request.endRow, {
        values: query.keys.map((key) => last.values[key.colId] ?? null),
        types: query.keys.map((key) => last.types[key.colId]),
      })
    if (query.hiddenTie !== null) for (const row of page.rows) delete row[query.hiddenTie]
    return { rows: page.rows, rowCount, millis: Math.round(performance.now() - started) }
  }

  async groups(request: GroupRequest, signal?: AbortSignal): Promise<GroupResult> {
    const started = performance.now()
    const target = await gridTarget(this.pool, request.datasetId, request.source)
    const column = target.columns.identifier(request.column)
    const params: Params = []
    const where = whereClause(request.filter, target.columns, params)
    const hasLabel = target.columns.has('label')
    const hasAmount = target.columns.has('amount')
    const sql = `SELECT ${column} AS value, count(*) AS row_count,
        ${hasLabel ? 'count(*) FILTER (label)' : 'NULL'} AS fraud,
        ${hasAmount ? 'CAST(sum(amount) AS VARCHAR)' : 'NULL'} AS amount,
        count(*) OVER () AS group_count
      FROM ${target.relation} ${where} GROUP BY ${column} ORDER BY row_count DESC, value NULLS LAST LIMIT ${request.limit}`
    return onTarget(request.source, target, signal, async (connection) => {
      const rows = await readRows(connection, sql, params)
      return {
        column: request.column,
        groups: rows.map((row) => ({
          value: row.value ?? null,
          rows: asNumber(row.row_count),
          fraud: hasLabel ? asNumber(row.fraud) : null,
          amount: hasAmount ? asText(row.amount) : null,
        })),
        groupCount: asNumber(rows[0]?.group_count),
        millis: Math.round(performance.now() - started),
      }
    })
  }

  /** Settles when the order of a sorted request, if one is being built, is built (true) or not (false). */
  async sortedOrderBuilt(request: RowsRequest): Promise<boolean> {
    const target = await gridTarget(this.pool, request.datasetId, request.source)
    return (await this.orders?.built(request, target.generation)) ?? false
  }

  /** Forgets a dataset's page ends and orders: it is closed, and what opens next under its id may differ. */
  forget(datasetId: string): void {
    this.pageEnds.forget(datasetId)
    this.orders?.forget(datasetId)
  }
}
