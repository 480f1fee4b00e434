import {
  DuckDBInstance,
  type DuckDBConnection,
  type DuckDBResultReader,
  type DuckDBType,
  type DuckDBValue,
  type Json,
} from '@duckdb/node-api'
import type { Cell, ColumnInfo } from '../../shared/datasets-contract'

/** Small helpers over @duckdb/node-api: opening databases the way each part needs, and rows as wire values. */

export type Params = DuckDBValue[]

/**
 * What the import may hold in memory. Left to DuckDB's default (80% of the machine), it kept the table it
 * had written and every quality query's hash tables: 1.05 GB at its peak for PaySim's 6.36M rows, where
 * DuckDB's own read_csv into a table peaks at 0.69 GB. Written blocks are evicted instead (they are on
 * disk), and what still does not fit spills to the database's .tmp folder. At 400 MB the import still
 * peaked at 0.85 GB now and then; at 300 MB, at 0.60 to 0.63 GB (bench:paysim), and no slower.
 */
const IMPORT_MEMORY_LIMIT = '300MB'

/** A writable database: the import worker's own file. */
export function openWritable(path: string): Promise<DuckDBInstance> {
  return DuckDBInstance.create(path, { memory_limit: IMPORT_MEMORY_LIMIT })
}

/**
 * How DuckDB reads a page of a few hundred rows out of millions (a grid page, a console LIMIT): the
 * sort keys of every matching row first, then the other columns of the page's rows only, found by rowid.
 * DuckDB does that for at most 50 rows by default (late_materialization_max_rows), and pushes the page's
 * rowids into the second scan only for as many (dynamic_or_filter_threshold); a 100-row grid page read
 * every column of every match instead: 100 ms where this takes 30 ms (bench:paysim, the filtered page).
 */
const PAGE_READING = { late_materialization_max_rows: '1000', dynamic_or_filter_threshold: '1000' }

/** An imported dataset, read-only: grid, analyses, backtests and quality checks. */
export function openReadOnly(path: string): Promise<DuckDBInstance> {
  return DuckDBInstance.create(path, { access_mode: 'READ_ONLY', ...PAGE_READING })
}

/**
 * What one dataset's console statements may hold in memory, and spill to its temp folder beyond it. Left to
 * DuckDB's default (80% of the machine), `SELECT len(list(range)) FROM range(400000000)` took the process
 * to 6.7 GB; with the limit it fails in 3 s with DuckDB's "Out of Memory" error (the process peaked at
 * 2.1 GB), and a DISTINCT or ORDER BY larger than the limit spills to the dataset's .tmp folder and answers.
 */
export const CONSOLE_MEMORY_LIMIT = '1GB'
export const CONSOLE_TEMP_LIMIT = '4GB'

/**
 * The SQL console's view of a dataset: read-only, no files, network, extensions or ATTACH, bounded memory
 * and spill, and the configuration locked so a statement cannot undo any of it.
 */
export function openLockedDown(path: string): Promise<DuckDBInstance> {
  return DuckDBInstance.create(path, {
    access_mode: 'READ_ONLY',
    ...PAGE_READING,
    memory_limit: CONSOLE_MEMORY_LIMIT,
    max_temp_directory_size: CONSOLE_TEMP_LIMIT,
    enable_external_access: 'false',
    allow_unsigned_extensions: 'false',
    allow_community_extensions: 'false',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    lock_configuration: 'true',
  })
}

/** An in-memory scratch database for our own work (export files); never sees analyst SQL. */
export function openScratch(tempDirectory: string): Promise<DuckDBInstance> {
  return DuckDBInstance.create(':memory:', { temp_directory: tempDirectory })
}

/** A temporary table of BIGINT columns holding `rows` (each as many numbers as `columns`), by appender. */
export async function createNumbersTable(
  connection: DuckDBConnection,
  table: string,
  columns: readonly string[],
  rows: Iterable<readonly number[]>,
): Promise<void> {
  await connection.run(
    `CREATE TEMP TABLE ${quoteIdentifier(table)} (${columns.map((column) => `${quoteIdentifier(column)} BIGINT`).join(', ')})`,
  )
  const appender = await connection.createAppender(table, 'main', 'temp')
  try {
    for (const row of rows) {
      for (const value of row) appender.appendBigInt(BigInt(value))
      appender.endRow()
    }
    appender.flushSync()
  } finally {
    appender.closeSync()
  }
}

export const quoteIdentifier = (name: string) => `"${name.replaceAll('"', '""')}"`
export const quoteLiteral = (text: string) => `'${text.replaceAll("'", "''")}'`

/** A value as the grid shows it: lists and structs as JSON text, wide numbers as strings. */
export function toCell(value: Json): Cell {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return value
  return JSON.stringify(value)
}

export async function readRows(
  connection: DuckDBConnection,
  sql: string,
  params: Params = [],
): Promise<Record<string, Cell>[]> {
  return cellsOf(await connection.runAndReadAll(sql, params))
}

function cellsOf(reader: DuckDBResultReader): Record<string, Cell>[] {
  return reader.getRowObjectsJson().map((row) => {
    const cells: Record<string, Cell> = {}
    for (const [name, value] of Object.entries(row)) cells[name] = toCell(value)
    return cells
  })
}

/** A row as DuckDB gave it, with each column's type, to be bound as parameters again exactly. */
export interface TypedRow {
  values: Record<string, DuckDBValue>
  types: Record<string, DuckDBType | undefined>
}

/** Rows as wire values, and the last row as DuckDB gives it. */
export async function readRowsAndLast(
  connection: DuckDBConnection,
  sql: string,
  params: Params,
  types?: (DuckDBType | undefined)[],
): Promise<{ rows: Record<string, Cell>[]; last: TypedRow | undefined }> {
  // A parameter without a type is typed from its JS value (a whole DOUBLE would be a BIGINT).
  const reader = await connection.runAndReadAll(sql, params, types as DuckDBType[] | undefined)
  const values = reader.getRowObjects().at(-1)
  const names = reader.columnNames()
  const columnTypes = reader.columnTypes()
  return {
    rows: cellsOf(reader),
    last:
      values === undefined
        ? undefined
        : { values, types: Object.fromEntries(names.map((name, index) => [name, columnTypes[index]])) },
  }
}

/** Whether the database has this table in its main schema (a dataset imported by an older build may not). */
export async function hasTable(connection: DuckDBConnection, table: string): Promise<boolean> {
  const [row] = await readRows(
    connection,
    "SELECT count(*) AS n FROM duckdb_tables() WHERE NOT temporary AND schema_name = 'main' AND table_name = ?",
    [table],
  )
  return asNumber(row?.n) > 0
}

/** The single row of an aggregate query. */
export async function readOne(
  connection: DuckDBConnection,
  sql: string,
  params: Params = [],
): Promise<Record<string, Cell>> {
  const [row] = await readRows(connection, sql, params)
  if (row === undefined) throw new Error('The query returned no row.')
  return row
}

export async function describe(connection: DuckDBConnection, relation: string): Promise<ColumnInfo[]> {
  const reader = await connection.runAndReadAll(`SELECT * FROM ${relation} LIMIT 0`)
  const types = reader.columnTypes()
  return reader.columnNames().map((name, index) => ({ name, type: types[index]?.toString() ?? 'UNKNOWN' }))
}

/** A count or sum that DuckDB returns as BIGINT/HUGEINT text. */
export function asNumber(cell: Cell | undefined): number {
  if (cell === null || cell === undefined) return 0
  return typeof cell === 'number' ? cell : Number(cell)
}

export function asText(cell: Cell | undefined): string | null {
  if (cell === null || cell === undefined) return null
  return String(cell)
}

/** Runs `work` on a fresh connection of `instance`, closed afterwards. */
export async function withConnection<T>(
  instance: DuckDBInstance,
  work: (connection: DuckDBConnection) => Promise<T>,
): Promise<T> {
  const connection = await instance.connect()
  try {
    return await work(connection)
  } finally {
    connection.closeSync()
  }
}
