import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type {
  AnalysisAnswer,
  AnalysisName,
  BacktestEvent,
  BacktestRequest,
  BacktestResult,
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
import { DatasetCatalog, describeDataset } from './catalog'
import { withConnection } from './duck'
import { DatasetNotFoundError } from './errors'
import { DatasetExports } from './export'
import { GridPages } from './grid-pages'
import { ImportOrchestrator } from './import-orchestrator'
import { InstancePool, removeDatabaseFiles } from './instance-pool'
import { QueryRuns, type QueryRun } from './query-runs'
import { runConsoleStatement } from './sql-console'

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
  /** Whether a sorted grid page is read by position once the sort's order is built (default true). */
  sortedOrders?: boolean
}

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

/**
 * Offline datasets: imports (in a worker thread), the catalog, and every query over an imported dataset.
 * Independent of the active profile: the DuckDB files live in the datasets folder of the user data.
 * Each job is a part of its own (catalog, instances, imports, grid pages, exports, runs); this joins them
 * for the datasets router and the backtest command.
 */
export class DatasetsService {
  readonly exportsDir: string
  readonly samplePath: string | null
  private readonly catalog: DatasetCatalog
  private readonly instances: InstancePool
  private readonly imports: ImportOrchestrator
  private readonly grid: GridPages
  private readonly exports: DatasetExports
  private readonly runs = new QueryRuns()

  constructor(private readonly options: DatasetsServiceOptions) {
    this.catalog = new DatasetCatalog(options.dir)
    this.exportsDir = join(options.dir, 'exports')
    this.samplePath = options.samplePath === undefined ? findBundledSample() : options.samplePath
    this.instances = new InstancePool(options.dir, this.catalog)
    this.grid = new GridPages(this.instances, {
      keysetFrom: options.keysetFrom,
      sortedOrders: options.sortedOrders,
    })
    this.imports = new ImportOrchestrator({
      dir: options.dir,
      catalog: this.catalog,
      retire: (id) => this.closeDataset(id),
    })
    this.exports = new DatasetExports(this.instances, {
      exportsDir: this.exportsDir,
      scratchDir: join(options.dir, 'tmp'),
    })
    // Read from the start, as before any part asks for it.
    void this.catalog.ready()
  }

  async list(): Promise<DatasetList> {
    await this.catalog.ready()
    const datasets = await Promise.all(this.catalog.list().map(describeDataset))
    return { datasets, exportsDir: this.exportsDir, samplePath: this.samplePath }
  }

  async *openSample(signal?: AbortSignal): AsyncGenerator<ImportEvent> {
    if (this.samplePath === null)
      throw new DatasetNotFoundError(
        'This installation has no bundled sample (resources/paysim-first-20k.csv).',
      )
    yield* this.open({ path: this.samplePath }, signal)
  }

  /** Opens a file: see ImportOrchestrator.open. */
  open(request: OpenRequest, signal?: AbortSignal): AsyncGenerator<ImportEvent> {
    return this.imports.open(request, signal)
  }

  cancelImport(importId: string): { cancelled: boolean } {
    return this.imports.cancel(importId)
  }

  async remove(id: string): Promise<DatasetList> {
    await this.catalog.ready()
    const record = this.catalog.require(id)
    await this.closeDataset(id)
    await this.catalog.delete(id)
    await removeDatabaseFiles(this.options.dir, record.databaseFile)
    return this.list()
  }

  async quality(id: string): Promise<QualityReport> {
    await this.catalog.ready()
    return this.catalog.require(id).quality
  }

  /** A page of the grid; a caller that gives up (the grid went away) stops its queries. */
  rows(request: RowsRequest, signal?: AbortSignal): Promise<RowsPage> {
    return this.grid.rows(request, signal)
  }

  /** Settles when the order of a sorted request's rows, built after its first page, is ready (or not). */
  sortedOrderBuilt(request: RowsRequest): Promise<boolean> {
    return this.grid.sortedOrderBuilt(request)
  }

  groups(request: GroupRequest, signal?: AbortSignal): Promise<GroupResult> {
    return this.grid.groups(request, signal)
  }

  async analysis(id: string, name: AnalysisName): Promise<AnalysisAnswer> {
    const dataset = await this.instances.paysim(id, 'The analyses need')
    const started = performance.now()
    const result = await withConnection(dataset.instance, (connection) => runAnalysis(connection, name))
    return { result, millis: Math.round(performance.now() - started) }
  }

  /** A console statement; given a run, it reports progress and can be cancelled. */
  async sql(id: string, sql: string, run?: QueryRun): Promise<SqlAnswer> {
    const dataset = await this.instances.dataset(id)
    return withConnection(await this.instances.consoleOf(dataset), (connection) =>
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
    const dataset = await this.instances.paysim(request.datasetId, 'A backtest needs')
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

  /** The grid's rows to a file in the exports folder: see DatasetExports. */
  export(request: ExportRequest): Promise<ExportResult> {
    return this.exports.export(request)
  }

  async close(): Promise<void> {
    this.imports.cancelAll()
    this.runs.cancelAll()
    await this.instances.closeAll()
    await this.exports.close()
  }

  /** Closes what reads a dataset's file (removed, or replaced by a new import) and forgets its page ends. */
  private async closeDataset(id: string): Promise<void> {
    this.grid.forget(id)
    await this.instances.close(id)
  }
}
