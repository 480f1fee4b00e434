import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import type { ExportRequest, ExportResult } from '../../shared/datasets-contract'
import {
  asNumber,
  openScratch,
  quoteIdentifier,
  quoteLiteral,
  readOne,
  withConnection,
  type Params,
} from './duck'
import { DatasetConflictError } from './errors'
import { orderClause, whereClause } from './grid-sql'
import { gridTarget, onTarget } from './grid-target'
import type { InstancePool } from './instance-pool'

export interface DatasetExportsOptions {
  /** Where the files are written (<datasets folder>/exports). */
  exportsDir: string
  /** Where the scratch database spills to disk (<datasets folder>/tmp). */
  scratchDir: string
}

/**
 * Writes the grid's rows (all of them, with its filter and sort) to a file in the exports folder. A
 * console query runs on the console's locked instance and its rows are copied into a scratch database
 * that writes the file; the console itself can write nothing.
 */
export class DatasetExports {
  private scratch: Promise<DuckDBInstance> | undefined

  constructor(
    private readonly pool: InstancePool,
    private readonly options: DatasetExportsOptions,
  ) {}

  async export(request: ExportRequest): Promise<ExportResult> {
    const started = performance.now()
    const target = await gridTarget(this.pool, request.datasetId, request.source)
    const extension = request.format === 'csv' ? '.csv' : '.parquet'
    const name = request.fileName.toLowerCase().endsWith(extension)
      ? request.fileName
      : `${request.fileName}${extension}`
    const path = join(this.options.exportsDir, name)
    if (existsSync(path) && request.overwrite !== true)
      throw new DatasetConflictError(`${name} exists in the exports folder already.`)
    await mkdir(this.options.exportsDir, { recursive: true })
    const params: Params = []
    const where = whereClause(request.filter, target.columns, params)
    const order = orderClause(request.sort, target.columns, target.tieBreaker)
    const select = target.datasetKey === null ? target.select : '*'
    const query = `SELECT ${select} FROM ${target.relation} ${where} ${order}`
    const options = request.format === 'csv' ? '(FORMAT csv, HEADER)' : '(FORMAT parquet)'
    let rows: number
    if (request.source.kind === 'dataset') {
      rows = await withConnection(target.instance, async (connection) => {
        const copied = await readOne(
          connection,
          `COPY (${query}) TO ${quoteLiteral(path)} ${options}`,
          params,
        )
        return asNumber(Object.values(copied)[0])
      })
    } else {
      rows = await onTarget(request.source, target, undefined, (connection) =>
        this.copyThroughScratch(connection, query, params, path, options),
      )
    }
    const bytes = (await stat(path)).size
    return { path, rows, bytes, millis: Math.round(performance.now() - started) }
  }

  async close(): Promise<void> {
    const scratch = await this.scratch
    scratch?.closeSync()
    this.scratch = undefined
  }

  private async copyThroughScratch(
    connection: DuckDBConnection,
    query: string,
    params: Params,
    path: string,
    options: string,
  ): Promise<number> {
    const { scratchDir } = this.options
    this.scratch ??= mkdir(scratchDir, { recursive: true }).then(() => openScratch(scratchDir))
    const scratch = await this.scratch
    const result = await connection.stream(query, params)
    const names = result.columnNames()
    const types = result.columnTypes()
    const table = `export_${randomUUID().replaceAll('-', '')}`
    return withConnection(scratch, async (writer) => {
      await writer.run(
        `CREATE TABLE ${table} (${names.map((name, index) => `${quoteIdentifier(name)} ${types[index]?.toString() ?? 'VARCHAR'}`).join(', ')})`,
      )
      try {
        const appender = await writer.createAppender(table)
        let rows = 0
        for (;;) {
          const chunk = await result.fetchChunk()
          if (chunk === null || chunk.rowCount === 0) break
          appender.appendDataChunk(chunk)
          rows += chunk.rowCount
        }
        appender.closeSync()
        await writer.run(`COPY ${table} TO ${quoteLiteral(path)} ${options}`)
        return rows
      } finally {
        await writer.run(`DROP TABLE IF EXISTS ${table}`)
      }
    })
  }
}
