import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, stat } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import type { DatasetFormat, ImportEvent, OpenRequest } from '../../shared/datasets-contract'
import { excerpt } from '../../shared/excerpt'
import { datasetIdOf, describeDataset, type DatasetCatalog, type DatasetRecord } from './catalog'
import { DatasetConflictError, DatasetNotFoundError } from './errors'
import { startImport } from './import-runner'
import { ImportCancelledError, type ImportOutcome, type ImportProgress } from './importer'
import { removeDatabaseFiles, removeOtherGenerations } from './instance-pool'
import { paysimDatasetKey } from './layout'
import { sniffDataFile } from './sniff'

/**
 * Opening a data file: reused when known and unchanged, reported when changed, imported otherwise (in a
 * worker thread, into a new database file). DuckDB has one writer per file: only once an import is
 * complete is its file recorded in the catalog in place of the previous one.
 */

export interface ImportOrchestratorOptions {
  /** The datasets folder: catalog and DuckDB files. */
  dir: string
  catalog: DatasetCatalog
  /** Closes whatever reads a dataset's current file, before a new import of it takes its place. */
  retire: (id: string) => Promise<void>
}

export class ImportOrchestrator {
  private readonly importing = new Map<string, { datasetId: string; cancel: () => void }>()

  constructor(private readonly options: ImportOrchestratorOptions) {}

  /**
   * Opens a file: a known, unchanged file is ready at once; a known file that changed is reported so the
   * analyst can choose to import it again; anything else is imported, with progress, until done, failed or
   * cancelled (by cancel, or by the caller leaving the stream).
   */
  async *open(request: OpenRequest, signal?: AbortSignal): AsyncGenerator<ImportEvent> {
    const { catalog, dir } = this.options
    await catalog.ready()
    const path = resolve(request.path)
    const info = await stat(path).catch(() => undefined)
    if (info === undefined) throw new DatasetNotFoundError(`There is no file at ${path}.`)
    if (!info.isFile())
      throw new DatasetConflictError(
        `${path} is ${info.isDirectory() ? 'a folder' : 'not a regular file (a pipe, a socket or a device)'}, not a data file.`,
      )
    // By content, not name: /etc/passwd is no dataset, and a Parquet file named .csv still is one.
    const format = await sniffDataFile(path)
    const id = datasetIdOf(path)
    const modifiedMs = Math.trunc(info.mtimeMs)
    const known = catalog.get(id)
    if (known !== undefined && existsSync(join(dir, known.databaseFile))) {
      if (known.sourceBytes === info.size && known.sourceModifiedMs === modifiedMs) {
        yield { type: 'ready', dataset: await describeDataset(known), reused: true }
        return
      }
      if (request.reimport !== true) {
        yield {
          type: 'changed',
          dataset: await describeDataset(known),
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

  cancel(importId: string): { cancelled: boolean } {
    const running = this.importing.get(importId)
    running?.cancel()
    return { cancelled: running !== undefined }
  }

  cancelAll(): void {
    for (const running of this.importing.values()) running.cancel()
  }

  private async *importFile(
    path: string,
    id: string,
    format: DatasetFormat,
    sourceBytes: number,
    sourceModifiedMs: number,
    signal?: AbortSignal,
  ): AsyncGenerator<ImportEvent> {
    const { dir } = this.options
    // Claimed before the first await, so a second open of the same file sees this import running.
    const importId = randomUUID()
    let cancel = () => {}
    this.importing.set(importId, { datasetId: id, cancel: () => cancel() })
    const datasetKey = paysimDatasetKey(path, sourceBytes)
    const databaseFile = `${id}-${Date.now()}.duckdb`
    const databasePath = join(dir, databaseFile)
    const started = performance.now()

    // Progress arrives from the worker faster than a slow client may read it: keep the latest only.
    let latest: ImportProgress | undefined
    let settled: { value: ImportOutcome } | { error: unknown } | undefined
    let wake: (() => void) | undefined
    let run: Awaited<ReturnType<typeof startImport>>
    try {
      await mkdir(dir, { recursive: true })
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
          await removeDatabaseFiles(dir, databaseFile)
          if (settled.error instanceof ImportCancelledError) yield { type: 'cancelled' }
          else yield { type: 'failed', message: excerpt((settled.error as Error).message, MAX_MESSAGE) }
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
        yield { type: 'ready', dataset: await describeDataset(record), reused: false }
        return
      }
    } finally {
      signal?.removeEventListener('abort', onAbort)
      this.importing.delete(importId)
      if (!finished) {
        // The caller left the stream (closed the page, lost the connection): the import stops with it.
        run.cancel()
        await outcome
        await removeDatabaseFiles(dir, databaseFile)
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
    await this.options.retire(options.id)
    await this.options.catalog.put(record)
    await removeOtherGenerations(this.options.dir, options.id, options.databaseFile)
    return record
  }
}

/** Turns the worker's progress into what the analyst reads: rows, MB/s, and time left. */
export class ProgressRates {
  private phaseStarted: number
  private phase: ImportProgress['phase'] = 'reading'

  /** `started` and each event's `now` are performance.now() readings, in milliseconds. */
  constructor(
    private readonly sourceBytes: number,
    private readonly started: number,
  ) {
    this.phaseStarted = started
  }

  event(progress: ImportProgress, now = performance.now()): ImportEvent {
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

/** DuckDB's errors may echo a whole line of the file (megabytes): the user gets its start. */
const MAX_MESSAGE = 2000
