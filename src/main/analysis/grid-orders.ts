import { freemem } from 'node:os'
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import type { RowsRequest } from '../../shared/datasets-contract'
import { asNumber, asText, describe, quoteIdentifier, readOne, withConnection, type Params } from './duck'
import { orderClause, whereClause } from './grid-sql'
import type { GridTarget } from './grid-target'
import { LINE_COLUMN, paysimTransactionsSql, SOURCE_LINES_VIEW, SOURCE_TABLE } from './layout'

/**
 * The row positions of a sorted grid: for one dataset, filter and sort, a table of the rowids of the
 * rows the filter keeps, in the sort's order. A page anywhere is then the rowids at its positions (a
 * range of that table) and those rows only, found by rowid: 30 to 90 ms a page a million rows deep, where
 * OFFSET sorts every row before the page (1.2 to 2 s; bench:paysim, under load). Built once, after the
 * first page of a sort (0.5 to 1.3 s for 6.36M rows), while pages are read as before; 41 MB for 6.36M rows.
 */

/** The in-memory database of an instance that holds its orders (a read-only instance writes nowhere else). */
const ORDERS = 'grid_orders'
/** The grid's relation again, with each row's rowid in the source table, which finds a row without a scan. */
const ROWS = `${ORDERS}.rows`
const ROWID = '__rowid'
/** What an order takes in DuckDB a row: a UINTEGER, and the in-memory table's own (measured: 41 MB / 6.36M). */
const BYTES_PER_ROW = 7
/** Every order together, at most: the least recently read are freed first. */
const ORDERS_BYTES_KEPT = 256 * 1024 * 1024
/** Memory an order must leave free on the machine; short of it, pages are read as before, without one. */
const MEMORY_LEFT = 1024 * 1024 * 1024

type Ordering = Pick<RowsRequest, 'datasetId' | 'filter' | 'sort'>

export interface SortedOrder {
  /** The rows the filter keeps. */
  rows: number
  /** The grid's relation cut to the rows at these positions, in no order: the page's rows. */
  pageRows(startRow: number, endRow: number): string
}

interface Order extends SortedOrder {
  key: string
  datasetId: string
  instance: DuckDBInstance
  table: string
  bytes: number
  /** Settles when built (true) or not (false: failed, freed meanwhile, or no memory for it). */
  built: Promise<boolean>
  ready: boolean
  /** The connection building it, interrupted when the order is freed first. */
  building: DuckDBConnection | undefined
  /** Pages reading it now: it is dropped when the last one is done. */
  readers: number
  freed: boolean
}

/** Each ordering is its dataset's, of one database file, filter and sort. */
const orderKey = (ordering: Ordering, generation: string) =>
  `${ordering.datasetId}\n${generation}\n${JSON.stringify([ordering.filter, ordering.sort])}`

/**
 * The grid's relation of a dataset, carrying the source table's rowid: DuckDB finds rows by rowid in the
 * table (row groups and vectors skipped), but not through `__line` = rowid + first line, an expression.
 * Made once per instance, in an in-memory database attached to it, which every connection sees.
 */
async function rowsRelation(connection: DuckDBConnection, target: GridTarget): Promise<void> {
  const database = quoteIdentifier(
    asText((await readOne(connection, 'SELECT current_database() AS name')).name) ?? '',
  )
  const source = `${database}.main.${quoteIdentifier(SOURCE_TABLE)}`
  // A file with lines set aside keeps each row's line in the table; else it is the row's position.
  const stored = await readOne(
    connection,
    `SELECT count(*) AS n FROM duckdb_columns() WHERE database_name = current_database()
       AND schema_name = 'main' AND table_name = ? AND column_name = ?`,
    [SOURCE_TABLE, LINE_COLUMN],
  )
  let line = ''
  if (asNumber(stored.n) === 0) {
    const first = await readOne(connection, `SELECT ${LINE_COLUMN} AS line FROM ${SOURCE_LINES_VIEW} LIMIT 1`)
    line = `, rowid + ${asNumber(first.line)} AS ${LINE_COLUMN}`
  }
  const lines = `${ORDERS}.lines`
  // Another grid's orders over the same instance may have made them already.
  await connection.run(`ATTACH IF NOT EXISTS ':memory:' AS ${ORDERS} (READ_WRITE);
    CREATE OR REPLACE VIEW ${lines} AS SELECT rowid AS ${ROWID}, *${line} FROM ${source};
    CREATE OR REPLACE VIEW ${ROWS} AS ${
      target.datasetKey === null
        ? `SELECT * FROM ${lines}`
        : paysimTransactionsSql(target.datasetKey, lines, [ROWID])
    }`)
  // A dataset imported by an older build keeps its own view; where today's mapping gives other columns,
  // its pages are read as before (the order is not built: fill() takes this as a failure).
  if (target.datasetKey !== null) {
    const stored = await describe(connection, target.relation)
    const made = (await describe(connection, ROWS)).filter((column) => column.name !== ROWID)
    if (JSON.stringify(made) !== JSON.stringify(stored))
      throw new Error('The dataset was imported with another mapping of its columns')
  }
}

/** Names each order's table, unique across every grid's orders of an instance. */
let tables = 0

export class SortedOrders {
  private readonly orders = new Map<string, Order>()
  private readonly attached = new WeakMap<DuckDBInstance, Promise<void>>()

  constructor(private readonly bytesKept = ORDERS_BYTES_KEPT) {}

  /**
   * The built order of a sorted request, held until `release`d; undefined while building or where there
   * is none. Any other ordering of the dataset is freed: the grid shows one at a time.
   */
  take(request: Ordering, target: GridTarget): SortedOrder | undefined {
    const key = orderKey(request, target.generation)
    for (const order of this.orders.values())
      if (order.datasetId === request.datasetId && order.key !== key) this.free(order)
    const order = this.orders.get(key)
    if (order === undefined || !order.ready) return undefined
    // Most recently read last: the first freed when memory runs short.
    this.orders.delete(key)
    this.orders.set(key, order)
    order.readers++
    return order
  }

  release(taken: SortedOrder): void {
    const order = taken as Order
    order.readers--
    if (order.freed && order.readers === 0) void this.drop(order)
  }

  /**
   * Builds the order of a sorted request in the background, unless it is there or being built; settles
   * when it is ready (true) or will not be (false).
   */
  build(request: Ordering, target: GridTarget, rowsAtMost: number): Promise<boolean> {
    const key = orderKey(request, target.generation)
    const known = this.orders.get(key)
    if (known !== undefined) return known.built
    const bytes = rowsAtMost * BYTES_PER_ROW
    this.makeRoom(bytes)
    if (freemem() - bytes < MEMORY_LEFT) return Promise.resolve(false)
    const order: Order = {
      key,
      datasetId: request.datasetId,
      instance: target.instance,
      table: `${ORDERS}.order_${++tables}`,
      bytes,
      rows: 0,
      ready: false,
      building: undefined,
      readers: 0,
      freed: false,
      built: Promise.resolve(false),
      pageRows: (startRow, endRow) =>
        `(SELECT * FROM ${ROWS} WHERE ${ROWID} IN (SELECT r FROM ${order.table} WHERE rowid >= ${startRow} AND rowid < ${endRow}))`,
    }
    order.built = this.fill(order, request, target)
    this.orders.set(key, order)
    return order.built
  }

  /** The settled build of a request's order; false where none was started. */
  built(request: Ordering, generation: string): Promise<boolean> {
    return this.orders.get(orderKey(request, generation))?.built ?? Promise.resolve(false)
  }

  /** Frees a dataset's orders: it is closed, and its instance with them. */
  forget(datasetId: string): void {
    for (const order of this.orders.values()) if (order.datasetId === datasetId) this.free(order)
  }

  private async fill(order: Order, request: Ordering, target: GridTarget): Promise<boolean> {
    try {
      let attaching = this.attached.get(target.instance)
      if (attaching === undefined) {
        attaching = withConnection(target.instance, (connection) => rowsRelation(connection, target))
        this.attached.set(target.instance, attaching)
      }
      await attaching
      const params: Params = []
      const where = whereClause(request.filter, target.columns, params)
      const sorted = orderClause(request.sort, target.columns, target.tieBreaker)
      // Positions are rowids of the new table: DuckDB keeps the ORDER BY's order as it inserts.
      await withConnection(target.instance, async (connection) => {
        if (order.freed) return
        order.building = connection
        try {
          await connection.run(
            `CREATE TABLE ${order.table} AS SELECT CAST(${ROWID} AS UINTEGER) AS r FROM ${ROWS} ${where} ${sorted}`,
            params,
          )
        } finally {
          order.building = undefined
        }
        order.rows = asNumber((await readOne(connection, `SELECT count(*) AS n FROM ${order.table}`)).n)
      })
      if (order.freed) {
        await this.drop(order)
        return false
      }
      order.ready = true
      return true
    } catch {
      // Freed (the build interrupted) or failed: pages are read as before, and a failure of the dataset's
      // is seen there too.
      if (this.orders.get(order.key) === order) this.orders.delete(order.key)
      await this.drop(order)
      return false
    }
  }

  /** Frees the least recently read orders until `bytes` more fit. */
  private makeRoom(bytes: number): void {
    let held = 0
    for (const order of this.orders.values()) held += order.bytes
    for (const order of this.orders.values()) {
      if (held + bytes <= this.bytesKept) break
      held -= order.bytes
      this.free(order)
    }
  }

  private free(order: Order): void {
    this.orders.delete(order.key)
    order.freed = true
    order.building?.interrupt()
    if (order.readers === 0 && order.ready) void this.drop(order)
  }

  private async drop(order: Order): Promise<void> {
    order.ready = false
    // A closed instance has freed it already.
    await withConnection(order.instance, (connection) =>
      connection.run(`DROP TABLE IF EXISTS ${order.table}`),
    ).catch(() => undefined)
  }
}
