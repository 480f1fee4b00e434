import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import type { ColumnInfo, RowsRequest } from '../../shared/datasets-contract'
import { quoteIdentifier, withConnection } from './duck'
import { DatasetConflictError } from './errors'
import { GridColumns } from './grid-sql'
import type { InstancePool } from './instance-pool'
import { COSTLY_COLUMNS, LINE_COLUMN, SOURCE_LINES_VIEW, TRANSACTIONS_VIEW } from './layout'
import { consoleColumns, consoleError, consoleRelation } from './sql-console'

/** What the grid (its pages, groups and exports) reads: a dataset's rows, or a console query's. */

export interface GridTarget {
  instance: DuckDBInstance
  relation: string
  columns: GridColumns
  /** Columns to select (all of them for a console query). */
  select: string
  tieBreaker: string | null
  /** PaySim: txn_id is computed for the page's rows only. */
  datasetKey: string | null
  /** The database file read: a re-import under the same id writes a new one. */
  generation: string
  /** The dataset's rows (a console query's are not known before it runs). */
  rows: number | null
}

export async function gridTarget(
  pool: InstancePool,
  datasetId: string,
  source: RowsRequest['source'],
): Promise<GridTarget> {
  const dataset = await pool.dataset(datasetId)
  const { record } = dataset
  if (source.kind === 'console') {
    const instance = await pool.consoleOf(dataset)
    const columns = await withConnection(instance, (connection) =>
      consoleColumns(connection, source.sql).catch((error: unknown) => {
        throw new DatasetConflictError(consoleError(error, source.sql).message)
      }),
    )
    return {
      instance,
      relation: consoleRelation(source.sql),
      columns: new GridColumns(columns),
      select: '*',
      tieBreaker: null,
      datasetKey: null,
      generation: record.databaseFile,
      rows: null,
    }
  }
  const paysim = record.kind === 'paysim'
  const shown: ColumnInfo[] = paysim ? record.columns : record.sourceColumns
  return {
    instance: dataset.instance,
    relation: paysim ? TRANSACTIONS_VIEW : SOURCE_LINES_VIEW,
    columns: new GridColumns(shown),
    select: shown
      .filter((column) => !(paysim && COSTLY_COLUMNS.has(column.name)))
      .map((column) => quoteIdentifier(column.name))
      .join(', '),
    tieBreaker: paysim ? 'seq' : LINE_COLUMN,
    datasetKey: paysim ? record.datasetKey : null,
    generation: record.databaseFile,
    rows: record.rowCount,
  }
}

/**
 * Runs on the target's instance, stopped when the signal aborts; a console query's failure reads as the
 * console shows it.
 */
export function onTarget<T>(
  source: RowsRequest['source'],
  target: GridTarget,
  signal: AbortSignal | undefined,
  work: (connection: DuckDBConnection) => Promise<T>,
): Promise<T> {
  const interruptible = async (connection: DuckDBConnection) => {
    const interrupt = () => connection.interrupt()
    signal?.addEventListener('abort', interrupt, { once: true })
    try {
      return await work(connection)
    } finally {
      signal?.removeEventListener('abort', interrupt)
    }
  }
  return withConnection(target.instance, interruptible).catch((error: unknown) => {
    if (source.kind !== 'console' || !(error instanceof Error)) throw error
    throw new DatasetConflictError(consoleError(error, source.sql).message)
  })
}
