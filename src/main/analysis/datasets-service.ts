import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { DuckDBConnection, DuckDBInstance, DuckDBType } from '@duckdb/node-api'
import type {
  AnalysisAnswer,
  AnalysisName,
  BacktestEvent,
  BacktestRequest,
  BacktestResult,
  ColumnInfo,
  Dataset,
  DatasetFormat,
  DatasetList,
  ExportRequest,
  ExportResult,
  GroupRequest,
  GroupResult,
  ImportEvent,
  OpenRequest,
  QualityReport,
  RowsPage,
  RowsRequest,
  SqlAnswer,
  SqlEvent,
} from '../../shared/datasets-contract'
import { runAnalysis } from './analyses'
import { runBacktest } from './backtest'
import { datasetIdOf, DatasetCatalog, type DatasetRecord } from './catalog'
import {
  asNumber,
  asText,
  openLockedDown,
  openReadOnly,
  openScratch,
  quoteIdentifier,
  quoteLiteral,
  readOne,
  readRows,
  readRowsAndLast,
  withConnection,
  type Params,
} from './duck'
import { DatasetConflictError, DatasetNotFoundError } from './errors'
import { afterRowCondition, GridColumns, orderClause, sortKeys, whereClause, type PageEnd } from './grid-sql'
import { startImport } from './import-runner'
import { ImportCancelledError, type ImportOutcome, type ImportProgress } from './importer'
import {
  COSTLY_COLUMNS,
  LINE_COLUMN,
  paysimDatasetKey,
  paysimTxnIdPageSql,
  SOURCE_LINES_VIEW,
  TRANSACTIONS_VIEW,
} from './layout'
import { QueryRuns, type QueryRun } from './query-runs'
import { sniffDataFile } from './sniff'
import { consoleColumns, consoleError, consoleRelation, runConsoleStatement } from './sql-console'

export interface DatasetsServiceOptions {
  /** The datasets folder (<user data>/datasets): catalog, DuckDB files, exports. */
  dir: string
  /** The bundled PaySim sample; found next to the app when not given. */
  samplePath?: string | null
  /**
   * A sorted grid page from this row on is read after the previous page's last row, when that page was
   * read, instead of by OFFSET (default 10,000: shallower, OFFSET is as fast).
   */
  keysetFrom?: number
}

/**
 * Which sorted page a page end belongs to: dataset first, so a dataset's entries can be forgotten, and its
 * database file, so a page read from a file re-imported since (same id, new file) is never read on from.
 */
const pageEndsKey = (request: RowsRequest, generation: string) =>
  `${request.datasetId}\n${generation}\n${JSON.stringify([request.source, request.filter, request.sort])}`

/** Sorted pages whose last row is remembered, at most (a grid scrolled through remembers one a page). */
const PAGE_ENDS_KEPT = 512

/** The bundled sample ships in resources/, which sits a few folders above this module in source and in builds. */
export function findBundledSample(): string | null {
  let folder = dirname(fileURLToPath(import.meta.url))
  for (let depth = 0; depth < 6; depth++) {
    const candidate = join(folder, 'resources', 'paysim-first-20k.csv')
    if (existsSync(candidate)) return candidate
    folder = dirname(folder)
  }
  return null
}

interface OpenDataset {
  record: DatasetRecord
  /** Grid, analyses, backtests, exports: our own SQL only. */
  instance: DuckDBInstance
  /** The SQL console: read-only, no files, no network, configuration locked. Opened on first use. */
  console?: Promise<DuckDBInstance>
}

interface GridTarget {
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
}

/**
 * Offline datasets: imports (in a worker thread), the catalog, and every query over an imported dataset.
 * Independent of the active profile: the DuckDB files live in the datasets folder of the user data.
 * DuckDB has one writer per file: an import writes a new file, and only once it is complete does the
 * service open it (read-only) in place of the previous one.
 */
export class DatasetsService {
  readonly exportsDir: string
  readonly samplePath: string | null
  private readonly catalog: DatasetCatalog
  private readonly loaded: Promise<void>
  private readonly opened = new Map<string, Promise<OpenDataset>>()
  private readonly importing = new Map<string, { datasetId: string; cancel: () => void }>()
  private readonly runs = new QueryRuns()
  /** The sort keys of the last row of recent sorted pages, by dataset, source, filter, sort and end row. */
  private readonly pageEnds = new Map<string, PageEnd>()
  private scratch: Promise<DuckDBInstance> | undefined

  constructor(private readonly options: DatasetsServiceOptions) {
    this.catalog = new DatasetCatalog(options.dir)
    this.exportsDir = join(options.dir, 'exports')
    this.samplePath = options.samplePath === undefined ? findBundledSample() : options.samplePath
    this.loaded = this.catalog.load()
  }

  async list(): Promise<DatasetList> {
    await this.loaded
    const datasets = await Promise.all(this.catalog.list().map((record) => this.describeRecord(record)))
    return { datasets, exportsDir: this.exportsDir, samplePath: this.samplePath }
  }

  private async describeRecord(record: DatasetRecord): Promise<Dataset> {
    const info = await stat(record.sourcePath).catch(() => undefined)
    const sourceState =
      info === undefined
        ? 'missing'
        : info.size === record.sourceBytes && Math.trunc(info.mtimeMs) === record.sourceModifiedMs
          ? 'current'
          : 'changed'
    return {
      id: record.id,
      name: record.name,
      sourcePath: record.sourcePath,
      format: record.format,
      kind: record.kind,
      sourceBytes: record.sourceBytes,
      sourceModifiedAt: new Date(record.sourceModifiedMs).toISOString(),
      importedAt: record.importedAt,
      importMillis: record.importMillis,
      rowCount: record.rowCount,
      rejectedLines: record.rejectedLines,
      fraudCount: record.fraudCount,
      columns: record.columns,
      sourceColumns: record.sourceColumns,
      sourceState,
    }
  }

  async *openSample(signal?: AbortSignal): AsyncGenerator<ImportEvent> {
    if (this.samplePath === null)
      throw new DatasetNotFoundError(
        'This installation has no bundled sample (resources/paysim-first-20k.csv).',
      )
    yield* this.open({ path: this.samplePath }, signal)
  }

  /**
   * Opens a file: a known, unchanged file is ready at once; a known file that changed is reported so the
   * analyst can choose to import it again; anything else is imported, with progress, until done, failed or
   * cancelled (by cancelImport, or by the caller leaving the stream).
   */
  async *open(request: OpenRequest, signal?: AbortSignal): AsyncGenerator<ImportEvent> {
    await this.loaded
    const path = resolve(request.path)
    const info = await stat(path).catch(() => undefined)
    if (info === undefined) throw new DatasetNotFoundError(`There is no file at ${path}.`)
    if (!info.isFile()) throw new DatasetConflictError(`${path} is a folder, not a data file.`)
    // By content, not name: /etc/passwd is no dataset, and a Parquet file named .csv still is one.
    const format = await sniffDataFile(path)
    const id = datasetIdOf(path)
    const modifiedMs = Math.trunc(info.mtimeMs)
    const known = this.catalog.get(id)
    if (known !== undefined && existsSync(join(this.options.dir, known.databaseFile))) {
      if (known.sourceBytes === info.size && known.sourceModifiedMs === modifiedMs) {
        yield { type: 'ready', dataset: await this.describeRecord(known), reused: true }
        return
      }
      if (request.reimport !== true) {
        yield {
          type: 'changed',
          dataset: await this.describeRecord(known),
          sourceBytes: info.size,
          sourceModifiedAt: new Date(modifiedMs).toISOString(),
        }
        return
      }
    }
    if ([...this.importing.values()].some((running) => running.datasetId === id))
      throw new DatasetConflictError(`${basename(path)} is being imported already.`)
    yield* this.importFile(path, id, format, info.size, modifiedMs, signal)
  }

  private async *importFile(
    path: string,
    id: string,
    format: DatasetFormat,
    sourceBytes: number,
    sourceModifiedMs: number,
    signal?: AbortSignal,
  ): AsyncGenerator<ImportEvent> {
    // Claimed before the first await, so a second open of the same file sees this import running.
    const importId = randomUUID()
    let cancel = () => {}
    this.importing.set(importId, { datasetId: id, cancel: () => cancel() })
    const datasetKey = paysimDatasetKey(path, sourceBytes)
    const databaseFile = `${id}-${Date.now()}.duckdb`
    const databasePath = join(this.options.dir, databaseFile)
    const started = performance.now()

    // Progress arrives from the worker faster than a slow client may read it: keep the latest only.
    let latest: ImportProgress | undefined
    let settled: { value: ImportOutcome } | { error: unknown } | undefined
    let wake: (() => void) | undefined
    let run: Awaited<ReturnType<typeof startImport>>
    try {
      await mkdir(this.options.dir, { recursive: true })
      run = await startImport(
        { databasePath, sourcePath: path, format, sourceBytes, datasetKey },
        (progress) => {
          latest = progress
          wake?.()
        },
      )
    } catch (error) {
      this.importing.delete(importId)
      throw error
    }
    cancel = run.cancel
    const outcome = run.done.then(
      (value) => (settled = { value }),
      (error: unknown) => (settled = { error }),
    )
    void outcome.then(() => wake?.())
    let finished = false
    const onAbort = () => run.cancel()
    signal?.addEventListener('abort', onAbort)
    try {
      yield { type: 'started', importId, datasetId: id, name: basename(path), sourceBytes }
      const rates = new ProgressRates(sourceBytes, started)
      for (;;) {
        if (latest === undefined && settled === undefined)
          await new Promise<void>((resolve) => (wake = resolve))
        wake = undefined
        if (latest !== undefined) {
          yield rates.event(latest)
          latest = undefined
        }
        if (settled === undefined) continue
        finished = true
        if ('error' in settled) {
          await this.removeFiles(databaseFile)
          if (settled.error instanceof ImportCancelledError) yield { type: 'cancelled' }
          else yield { type: 'failed', message: (settled.error as Error).message }
          return
        }
        const record = await this.adopt({
          id,
          path,
          format,
          sourceBytes,
          sourceModifiedMs,
          databaseFile,
          datasetKey,
          importMillis: Math.round(performance.now() - started),
          outcome: settled.value,
        })
        yield { type: 'ready', dataset: await this.describeRecord(record), reused: false }
        return
      }
    } finally {
      signal?.removeEventListener('abort', onAbort)
      this.importing.delete(importId)
      if (!finished) {
        // The caller left the stream (closed the page, lost the connection): the import stops with it.
        run.cancel()
        await outcome
        await this.removeFiles(databaseFile)
      }
    }
  }

  /** Records a finished import and puts its file in place of the previous import of the same file. */
  private async adopt(options: {
    id: string
    path: string
    format: DatasetRecord['format']
    sourceBytes: number
    sourceModifiedMs: number
    databaseFile: string
    datasetKey: string
    importMillis: number
    outcome: ImportOutcome
  }): Promise<DatasetRecord> {
    const { outcome } = options
    const record: DatasetRecord = {
      id: options.id,
      name: basename(options.path),
      sourcePath: options.path,
      format: options.format,
      kind: outcome.kind,
      sourceBytes: options.sourceBytes,
      sourceModifiedMs: options.sourceModifiedMs,
      databaseFile: options.databaseFile,
      datasetKey: options.datasetKey,
      importedAt: new Date().toISOString(),
      importMillis: options.importMillis,
      rowCount: outcome.rowCount,
      rejectedLines: outcome.rejectedLines,
      fraudCount: outcome.fraudCount,
      columns: outcome.columns,
      sourceColumns: outcome.sourceColumns,
      quality: outcome.quality,
    }
    await this.closeDataset(options.id)
    await this.catalog.put(record)
    await this.removeOtherGenerations(options.id, options.databaseFile)
    return record
  }

  cancelImport(importId: string): { cancelled: boolean } {
    const running = this.importing.get(importId)
    running?.cancel()
    return { cancelled: running !== undefined }
  }

  async remove(id: string): Promise<DatasetList> {
    await this.loaded
    const record = this.requireRecord(id)
    await this.closeDataset(id)
    await this.catalog.delete(id)
    await this.removeFiles(record.databaseFile)
    return this.list()
  }

  async quality(id: string): Promise<QualityReport> {
    await this.loaded
    return this.requireRecord(id).quality
  }

  /** A page of the grid; a caller that gives up (the grid went away) stops its queries. */
  async rows(request: RowsRequest, signal?: AbortSignal): Promise<RowsPage> {
    const started = performance.now()
    const target = await this.gridTarget(request.datasetId, request.source)
    const params: Params = []
    const where = whereClause(request.filter, target.columns, params)
    const order = orderClause(request.sort, target.columns, target.tieBreaker)
    const limit = request.endRow - request.startRow
    // A sorted page remembers its last row; the next one is read from there on, not by OFFSET, which
    // keeps every row before the page (a million of them a million rows deep).
    const tie = request.sort.length > 0 ? target.tieBreaker : null
    const keys = tie === null ? [] : sortKeys(request.sort, tie)
    const endsKey = tie === null ? '' : pageEndsKey(request, target.generation)
    const from =
      tie !== null && request.startRow >= (this.options.keysetFrom ?? 10_000)
        ? this.pageEnds.get(`${endsKey}@${request.startRow}`)
        : undefined
    const pageParams = [...params]
    const pageTypes: (DuckDBType | undefined)[] = []
    const after =
      from === undefined
        ? ''
        : afterRowCondition(keys, from, target.columns, tie as string, pageParams, pageTypes)
    const conditions = [where.replace(/^WHERE /, ''), after].filter((part) => part !== '')
    const pageWhere = conditions.length === 0 ? '' : `WHERE (${conditions.join(') AND (')})`
    const range = from === undefined ? `LIMIT ${limit} OFFSET ${request.startRow}` : `LIMIT ${limit}`
    // The tie breaker is read with the page to remember its last row, where it is not a column shown.
    const hiddenTie = tie !== null && !target.columns.has(tie) ? tie : null
    const select = hiddenTie === null ? target.select : `${target.select}, ${quoteIdentifier(hiddenTie)}`
    let sql = `SELECT ${select} FROM ${target.relation} ${pageWhere} ${order} ${range}`
    if (target.datasetKey !== null) sql = paysimTxnIdPageSql(sql, target.datasetKey, order || 'ORDER BY seq')
    // The page and the count run side by side, each on a connection of its own.
    const counting =
      request.withCount === true
        ? this.onTarget(request.source, target, signal, async (connection) => {
            const counted = await readOne(
              connection,
              `SELECT count(*) AS n FROM ${target.relation} ${where}`,
              params,
            )
            return asNumber(counted.n)
          })
        : Promise.resolve(null)
    const [page, rowCount] = await Promise.all([
      this.onTarget(request.source, target, signal, (connection) =>
        this.readPage(connection, sql, pageParams, pageTypes),
      ),
      counting,
    ])
    const last = page.last
    if (tie !== null && last !== undefined && page.rows.length === limit)
      this.rememberPageEnd(`${endsKey}@${request.endRow}`, {
        values: keys.map((key) => last.values[key.colId] ?? null),
        types: keys.map((key) => last.types[key.colId]),
      })
    if (hiddenTie !== null) for (const row of page.rows) delete row[hiddenTie]
    return { rows: page.rows, rowCount, millis: Math.round(performance.now() - started) }
  }

  /** Reads a grid page (its own method: the paging tests see which SQL each page ran). */
  private readPage(
    connection: DuckDBConnection,
    sql: string,
    params: Params,
    types: (DuckDBType | undefined)[],
  ) {
    return readRowsAndLast(connection, sql, params, types)
  }

  private rememberPageEnd(key: string, end: PageEnd): void {
    this.pageEnds.delete(key)
    this.pageEnds.set(key, end)
    for (const oldest of this.pageEnds.keys()) {
      if (this.pageEnds.size <= PAGE_ENDS_KEPT) break
      this.pageEnds.delete(oldest)
    }
  }

  async groups(request: GroupRequest, signal?: AbortSignal): Promise<GroupResult> {
    const started = performance.now()
    const target = await this.gridTarget(request.datasetId, request.source)
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
    return this.onTarget(request.source, target, signal, async (connection) => {
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

  async analysis(id: string, name: AnalysisName): Promise<AnalysisAnswer> {
    const dataset = await this.paysimDataset(id, 'The analyses need')
    const started = performance.now()
    const result = await withConnection(dataset.instance, (connection) => runAnalysis(connection, name))
    return { result, millis: Math.round(performance.now() - started) }
  }

  /** A console statement; given a run, it reports progress and can be cancelled. */
  async sql(id: string, sql: string, run?: QueryRun): Promise<SqlAnswer> {
    const dataset = await this.dataset(id)
    return withConnection(await this.consoleOf(dataset), (connection) =>
      run === undefined
        ? runConsoleStatement(connection, sql)
        : run.part(connection, () => runConsoleStatement(connection, sql)),
    )
  }

  /** A console statement with its progress, cancelled by cancelRun or by leaving the stream. */
  async *sqlWithProgress(id: string, sql: string, signal?: AbortSignal): AsyncGenerator<SqlEvent> {
    for await (const event of this.runs.watch(1, (run) => this.sql(id, sql, run), signal))
      yield event.type === 'done' ? { type: 'answer', answer: event.value } : event
  }

  /** Each rule set over every row; given a run, one part per rule set, with progress and cancel. */
  async backtest(request: BacktestRequest, run?: QueryRun): Promise<BacktestResult[]> {
    const dataset = await this.paysimDataset(request.datasetId, 'A backtest needs')
    const results: BacktestResult[] = []
    for (const ruleSet of request.ruleSets)
      results.push(
        await withConnection(dataset.instance, (connection) =>
          run === undefined
            ? runBacktest(connection, ruleSet)
            : run.part(connection, () => runBacktest(connection, ruleSet)),
        ),
      )
    return results
  }

  async *backtestWithProgress(request: BacktestRequest, signal?: AbortSignal): AsyncGenerator<BacktestEvent> {
    const parts = request.ruleSets.length
    for await (const event of this.runs.watch(parts, (run) => this.backtest(request, run), signal))
      yield event.type === 'done' ? { type: 'results', results: event.value } : event
  }

  cancelRun(runId: string): { cancelled: boolean } {
    return this.runs.cancel(runId)
  }

  /**
   * Writes the grid's rows (all of them, with its filter and sort) to a file in the exports folder. A
   * console query runs on the console's locked instance and its rows are copied into a scratch database
   * that writes the file; the console itself can write nothing.
   */
  async export(request: ExportRequest): Promise<ExportResult> {
    const started = performance.now()
    const target = await this.gridTarget(request.datasetId, request.source)
    const extension = request.format === 'csv' ? '.csv' : '.parquet'
    const name = request.fileName.toLowerCase().endsWith(extension)
      ? request.fileName
      : `${request.fileName}${extension}`
    const path = join(this.exportsDir, name)
    if (existsSync(path) && request.overwrite !== true)
      throw new DatasetConflictError(`${name} exists in the exports folder already.`)
    await mkdir(this.exportsDir, { recursive: true })
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
      rows = await this.onTarget(request.source, target, undefined, (connection) =>
        this.copyThroughScratch(connection, query, params, path, options),
      )
    }
    const bytes = (await stat(path)).size
    return { path, rows, bytes, millis: Math.round(performance.now() - started) }
  }

  private async copyThroughScratch(
    connection: DuckDBConnection,
    query: string,
    params: Params,
    path: string,
    options: string,
  ): Promise<number> {
    this.scratch ??= mkdir(join(this.options.dir, 'tmp'), { recursive: true }).then(() =>
      openScratch(join(this.options.dir, 'tmp')),
    )
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

  async close(): Promise<void> {
    for (const running of this.importing.values()) running.cancel()
    this.runs.cancelAll()
    for (const id of [...this.opened.keys()]) await this.closeDataset(id)
    const scratch = await this.scratch
    scratch?.closeSync()
    this.scratch = undefined
  }

  // ---------------------------------------------------------------------------------------------------

  private requireRecord(id: string): DatasetRecord {
    const record = this.catalog.get(id)
    if (record === undefined)
      throw new DatasetNotFoundError('This dataset is not in the list; open its file again.')
    return record
  }

  private async dataset(id: string): Promise<OpenDataset> {
    await this.loaded
    const record = this.requireRecord(id)
    let opening = this.opened.get(id)
    if (opening === undefined) {
      const path = join(this.options.dir, record.databaseFile)
      if (!existsSync(path))
        throw new DatasetNotFoundError(`The imported copy of ${record.name} is gone; open the file again.`)
      opening = openReadOnly(path).then((instance) => ({ record, instance }))
      this.opened.set(id, opening)
      opening.catch(() => this.opened.delete(id))
    }
    return opening
  }

  private async paysimDataset(id: string, what: string): Promise<OpenDataset> {
    const dataset = await this.dataset(id)
    if (dataset.record.kind !== 'paysim')
      throw new DatasetConflictError(
        `${what} PaySim's columns (step, type, amount, nameOrig, … isFraud); ${dataset.record.name} has other columns.`,
      )
    return dataset
  }

  private consoleOf(dataset: OpenDataset): Promise<DuckDBInstance> {
    dataset.console ??= openLockedDown(join(this.options.dir, dataset.record.databaseFile))
    return dataset.console
  }

  private async gridTarget(datasetId: string, source: RowsRequest['source']): Promise<GridTarget> {
    const dataset = await this.dataset(datasetId)
    const { record } = dataset
    if (source.kind === 'console') {
      const instance = await this.consoleOf(dataset)
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
    }
  }

  /** Runs on the target's instance; a console query's failure reads as the console shows it. */
  private onTarget<T>(
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

  private async closeDataset(id: string): Promise<void> {
    // What its pages ended with may not be true of what is opened next under the same id.
    for (const key of this.pageEnds.keys()) if (key.startsWith(`${id}\n`)) this.pageEnds.delete(key)
    const opening = this.opened.get(id)
    this.opened.delete(id)
    const dataset = await opening?.catch(() => undefined)
    if (dataset === undefined) return
    dataset.instance.closeSync()
    const console = await dataset.console?.catch(() => undefined)
    console?.closeSync()
  }

  private async removeFiles(databaseFile: string): Promise<void> {
    const path = join(this.options.dir, databaseFile)
    await Promise.all(
      [path, `${path}.wal`, `${path}.tmp`].map((file) => rm(file, { recursive: true, force: true })),
    )
  }

  /**
   * Earlier imports of the same file, replaced by `keep`. A query still reading one keeps it open (DuckDB
   * closes a database with its last connection); where the system refuses to delete an open file, it is
   * left for the next import of that file to remove.
   */
  private async removeOtherGenerations(id: string, keep: string): Promise<void> {
    const files = await readdir(this.options.dir)
    const generation = new RegExp(`^${id}-\\d+\\.duckdb$`)
    await Promise.all(
      files
        .filter((file) => generation.test(file) && file !== keep)
        .map((file) => this.removeFiles(file).catch(() => undefined)),
    )
  }
}

/** Turns the worker's progress into what the analyst reads: rows, MB/s, and time left. */
class ProgressRates {
  private phaseStarted: number
  private phase: ImportProgress['phase'] = 'reading'

  constructor(
    private readonly sourceBytes: number,
    private readonly started: number,
  ) {
    this.phaseStarted = started
  }

  event(progress: ImportProgress): ImportEvent {
    const now = performance.now()
    if (progress.phase !== this.phase) {
      this.phase = progress.phase
      this.phaseStarted = now
    }
    const seconds = Math.max(0.001, (now - this.started) / 1000)
    const phaseSeconds = Math.max(0.001, (now - this.phaseStarted) / 1000)
    const percent = Math.max(0, Math.min(100, progress.percent))
    let etaSeconds: number | null = null
    if (progress.phase === 'reading' && progress.bytesRead > 0)
      etaSeconds = ((this.sourceBytes - progress.bytesRead) / progress.bytesRead) * phaseSeconds
    else if (progress.phase === 'checking' && percent > 0)
      etaSeconds = ((100 - percent) / percent) * phaseSeconds
    return {
      type: 'progress',
      phase: progress.phase,
      percent,
      bytesRead: progress.bytesRead,
      rows: progress.rows,
      rowsPerSecond: progress.rows / seconds,
      megabytesPerSecond: progress.bytesRead / 1e6 / seconds,
      etaSeconds: etaSeconds === null ? null : Math.max(0, etaSeconds),
    }
  }
}
