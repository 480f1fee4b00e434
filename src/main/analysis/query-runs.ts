import { randomUUID } from 'node:crypto'
import type { DuckDBConnection } from '@duckdb/node-api'
import { ALL_ROWS_READ_PERCENT, type RunProgress } from '../../shared/datasets-contract'

/**
 * Long runs over a dataset (console statements, backtests): a run id to cancel by, DuckDB's progress read
 * a few times a second, and cancel through the connection the run's queries use (DuckDB's interrupt stops
 * a statement between two chunks; the connection answers the next statement as before).
 */

/** How often a run's progress is read and sent. */
const PROGRESS_EVERY_MS = 250

export class RunCancelledError extends Error {
  constructor() {
    super('Cancelled')
    this.name = 'RunCancelledError'
  }
}

/** What a run has done so far, in DuckDB's terms; see progressOf. */
export interface RunTally {
  /** Parts of the work (a backtest of two rule sets has two), each on a connection of its own. */
  parts: number
  partsDone: number
  /** DuckDB's percent of the running part, where it has one. */
  partPercent: number | null
  rowsBefore: number
  partRows: number
}

/** The progress event for a tally: percent over all parts, rows read, their rate, and time left. */
export function progressOf(tally: RunTally, elapsedSeconds: number): RunProgress {
  const known = tally.partPercent !== null || tally.partsDone > 0
  const percent = known
    ? Math.min(100, ((tally.partsDone + (tally.partPercent ?? 0) / 100) / tally.parts) * 100)
    : null
  const rowsRead = tally.rowsBefore + tally.partRows
  const seconds = Math.max(0.001, elapsedSeconds)
  return {
    type: 'progress',
    percent,
    rowsRead,
    rowsPerSecond: rowsRead / seconds,
    etaSeconds:
      percent !== null && percent > 0 && percent < ALL_ROWS_READ_PERCENT
        ? (seconds * (100 - percent)) / percent
        : null,
    elapsedSeconds: Math.max(0, elapsedSeconds),
  }
}

/**
 * DuckDB keeps a query's progress only where the progress bar is on (a per-connection setting, which
 * the console's locked configuration refuses to SET but its PRAGMA still turns on); never printed. A
 * DuckDB that refuses both gives no percent, and the run still shows its time and can be cancelled.
 */
async function followProgress(connection: DuckDBConnection): Promise<void> {
  try {
    await connection.run('PRAGMA disable_print_progress_bar')
    await connection.run('PRAGMA enable_progress_bar')
  } catch {
    // No percent for this run; see above.
  }
}

/** One run: the connection its current part works on, its tally, and whether it was cancelled. */
export class QueryRun {
  readonly id = randomUUID()
  private readonly started = performance.now()
  private readonly tally: RunTally
  private connection: DuckDBConnection | undefined
  private cancelRequested = false

  constructor(parts: number) {
    this.tally = { parts, partsDone: 0, partPercent: null, rowsBefore: 0, partRows: 0 }
  }

  get cancelled(): boolean {
    return this.cancelRequested
  }

  cancel(): void {
    this.cancelRequested = true
    this.connection?.interrupt()
  }

  /**
   * Runs one part of the work on `connection`, followed and interruptible. Once cancelled, the run ends
   * cancelled even where the statement had just finished: the analyst asked it to stop.
   */
  async part<T>(connection: DuckDBConnection, work: () => Promise<T>): Promise<T> {
    await followProgress(connection)
    this.connection = connection
    let value: T
    try {
      if (this.cancelRequested) throw new RunCancelledError()
      value = await work()
    } catch (error) {
      if (this.cancelRequested) throw new RunCancelledError()
      throw error
    } finally {
      this.connection = undefined
      this.tally.partsDone++
      this.tally.rowsBefore += this.tally.partRows
      this.tally.partRows = 0
      this.tally.partPercent = null
    }
    if (this.cancelRequested) throw new RunCancelledError()
    return value
  }

  /** Reads DuckDB's progress; also interrupts again a cancel that fell between two statements. */
  progress(): RunProgress {
    const connection = this.connection
    if (connection !== undefined) {
      if (this.cancelRequested) connection.interrupt()
      const { percentage, rows_processed } = connection.progress
      // A part is several statements (describe, then count): its percent never goes back.
      if (percentage >= 0) this.tally.partPercent = Math.max(this.tally.partPercent ?? 0, percentage)
      this.tally.partRows = Math.max(this.tally.partRows, Number(rows_processed))
    }
    return progressOf(this.tally, (performance.now() - this.started) / 1000)
  }
}

export type RunEvent<T> =
  { type: 'started'; runId: string } | RunProgress | { type: 'cancelled' } | { type: 'done'; value: T }

/** The runs under way, by id, so that a second call (cancelRun) can stop one. */
export class QueryRuns {
  private readonly running = new Map<string, QueryRun>()

  /**
   * Starts `work` as a run of `parts` parts and yields its id, its progress until it ends, then its value
   * or `cancelled`. A caller that leaves the stream (closed page, lost connection) cancels the run.
   */
  async *watch<T>(
    parts: number,
    work: (run: QueryRun) => Promise<T>,
    signal?: AbortSignal,
  ): AsyncGenerator<RunEvent<T>> {
    const run = new QueryRun(parts)
    this.running.set(run.id, run)
    let settled: { value: T } | { error: unknown } | undefined
    const done = work(run).then(
      (value) => (settled = { value }),
      (error: unknown) => (settled = { error }),
    )
    const onAbort = () => run.cancel()
    signal?.addEventListener('abort', onAbort)
    try {
      yield { type: 'started', runId: run.id }
      for (;;) {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, PROGRESS_EVERY_MS)))])
        clearTimeout(timer)
        if (settled !== undefined) break
        yield run.progress()
      }
      if ('value' in settled) yield { type: 'done', value: settled.value }
      else if (settled.error instanceof RunCancelledError) yield { type: 'cancelled' }
      else throw settled.error
    } finally {
      signal?.removeEventListener('abort', onAbort)
      this.running.delete(run.id)
      if (settled === undefined) {
        run.cancel()
        await done
      }
    }
  }

  cancel(runId: string): { cancelled: boolean } {
    const run = this.running.get(runId)
    run?.cancel()
    return { cancelled: run !== undefined }
  }

  cancelAll(): void {
    for (const run of this.running.values()) run.cancel()
  }
}
