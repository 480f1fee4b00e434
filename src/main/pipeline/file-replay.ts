import { closeSync, createReadStream, openSync, readSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { createInterface } from 'node:readline'
import { PassThrough, type Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { isPaysimHeader, PAYSIM_EPOCH, parsePaysimLine, PaysimRowError } from '../../shared/paysim'
import type { Transaction } from '../../shared/transaction'
import type { DeadLetter, StreamEntry } from './redis-stream'
import type { PipelineStore } from './sink'
import type { IngestSource, SourceBatch, SourceInfo } from './worker'
import { encodeTransaction } from './wire'

/** A PaySim file's rows, streamed (the public file has 6.3 M rows), each with its 1-based line number. */
export type PaysimRow = { line: number; txn: Transaction } | { line: number; error: string }

/** Names the file for its transaction ids: the same file replayed again gives the same ids. */
export async function paysimDatasetKey(path: string): Promise<string> {
  return `${basename(path)}:${(await stat(path)).size}`
}

/** Whether the file starts with gzip's magic bytes (1f 8b): its content, not its name, says so. */
function isGzip(path: string): boolean {
  const fd = openSync(path, 'r')
  try {
    const magic = Buffer.alloc(2)
    return readSync(fd, magic, 0, 2, 0) === 2 && magic[0] === 0x1f && magic[1] === 0x8b
  } finally {
    closeSync(fd)
  }
}

/** The file's text bytes: a PaySim CSV, or one compressed with gzip (paysim.csv.gz), as Datasets opens them. */
function openText(path: string): Readable {
  const source = createReadStream(path)
  if (!isGzip(path)) return source
  const gunzip = createGunzip()
  const text = new PassThrough()
  // A file that cannot be read fails the reading, and so does one cut short or damaged, saying which.
  source.on('error', (error) => text.destroy(error))
  gunzip.on('error', (error) =>
    text.destroy(
      new Error(`${path} could not be decompressed (${error.message}): a gzip file cut short or damaged`),
    ),
  )
  return source.pipe(gunzip).pipe(text)
}

export async function* readPaysimFile(
  path: string,
  datasetKey: string,
  afterLine = 1,
): AsyncGenerator<PaysimRow> {
  const lines = createInterface({ input: openText(path), crlfDelay: Infinity })
  let line = 0
  try {
    for await (const text of lines) {
      line++
      if (line === 1) {
        if (!isPaysimHeader(text))
          throw new Error(
            `${path} is not a PaySim CSV (or CSV.gz): its first line is not the PaySim header (step,type,amount,…)`,
          )
        continue
      }
      if (line <= afterLine || text.trim() === '') continue
      // Bytes that are not UTF-8 were read as U+FFFD: sent on, the row would be stored changed or refused
      // without its line; reported here, as the import reports it.
      if (text.includes('\uFFFD')) {
        yield { line, error: `line ${line}: holds bytes that are not UTF-8 text` }
        continue
      }
      try {
        yield { line, txn: parsePaysimLine(text, { datasetKey, line }) }
      } catch (error) {
        if (!(error instanceof PaysimRowError)) throw error
        yield { line, error: error.message }
      }
    }
    if (line === 0)
      throw new Error(`${path} is empty: a PaySim CSV starts with its header (step,type,amount,…)`)
  } finally {
    lines.close()
  }
}

/**
 * Data lines of a file (without its header), counted once for a replay's progress: lines end as
 * readline ends them (LF, CRLF or a CR alone).
 */
export async function countDataLines(path: string): Promise<number> {
  const LF = 10
  const CR = 13
  let ends = 0
  let last = LF
  for await (const chunk of openText(path) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) ends++
    // A CR ends a line unless an LF follows it (then the LF was counted); one that ended the last chunk
    // is decided by this chunk's first byte.
    if (last === CR && chunk.length > 0 && chunk[0] !== LF) ends++
    for (let i = chunk.indexOf(CR); i !== -1 && i < chunk.length - 1; i = chunk.indexOf(CR, i + 1))
      if (chunk[i + 1] !== LF) ends++
    if (chunk.length > 0) last = chunk[chunk.length - 1] as number
  }
  if (last === CR) ends++
  return Math.max(0, ends + (last === LF || last === CR ? 0 : 1) - 1)
}

/**
 * A replay reads its file twice (to count the rows for progress, then to send them), so it must be a
 * regular file: from a pipe the second reading found nothing, and the replay said it was done.
 */
export async function checkReplayFile(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined)
  if (info === undefined) throw new Error(`There is no file ${path}.`)
  if (info.isDirectory()) throw new Error(`${path} is a folder, not a PaySim CSV.`)
  if (!info.isFile())
    throw new Error(
      `${path} is not a regular file (a pipe, a socket or a device): a replay reads its file twice, to count its rows and then to send them; save it to a file first.`,
    )
}

export interface FileReplayOptions {
  path: string
  /** Transactions per second: a gentle pace, so a replay on the app's own thread stays unnoticed. */
  tps: number
  /** Dead letters (rows that are not transactions) are reported here; a file has no dead-letter stream. */
  onDeadLetter?: (letter: DeadLetter) => void
  /**
   * Live times (Local mode's sample): each row's event time is placed in real time from the moment the
   * replay starts (see LiveSchedule), and a row is sent once its time has come, so the feed, the
   * dashboard and the cases are of now. Without it rows keep PaySim's time (the step's hour).
   */
  live?: {
    now?: () => number
    /**
     * On the very first start, how much of the file lies before now (sent at once, at the pace `tps`),
     * so a new user opens a dashboard with an hour behind it, cases to work, and the rest arriving live.
     */
    historyMs?: number
  }
}

const HOUR_MS = 3_600_000

/**
 * Where a PaySim row falls in real time: step s is the (s - first step)-th hour after the anchor, and
 * the rows of a step are spread evenly over their hour by their order in the file (deterministic, and
 * strictly increasing with the line, so every user's transactions keep their order). The anchor is
 * chosen when the replay takes its place in the file: the next line to send is due at that moment.
 */
export class LiveSchedule {
  private constructor(
    private readonly steps: Map<number, { firstLine: number; count: number }>,
    private readonly firstStep: number,
  ) {}

  /** One pass over the file's step column (a count per step, nothing per row). */
  static async of(path: string): Promise<LiveSchedule> {
    const steps = new Map<number, { firstLine: number; count: number }>()
    let firstStep: number | undefined
    const lines = createInterface({ input: openText(path), crlfDelay: Infinity })
    let line = 0
    for await (const text of lines) {
      line++
      if (line === 1) continue
      const step = Number(text.slice(0, text.indexOf(',')))
      if (!Number.isSafeInteger(step) || step < 1) continue
      firstStep ??= step
      const known = steps.get(step)
      if (known === undefined) steps.set(step, { firstLine: line, count: 1 })
      else known.count++
    }
    return new LiveSchedule(steps, firstStep ?? 1)
  }

  /** Milliseconds after the anchor of the row on `line` of `step` (PaySim files are in step order). */
  offsetOf(step: number, line: number): number {
    const known = this.steps.get(step)
    const hour = Math.max(0, step - this.firstStep) * HOUR_MS
    if (known === undefined) return hour
    const rank = Math.min(Math.max(0, line - known.firstLine), known.count - 1)
    return hour + Math.floor((rank * HOUR_MS) / known.count)
  }

  /** The offset of the first row at or after `line` (0 before the first row). */
  offsetAtLine(line: number): number {
    let best: { step: number; firstLine: number } | undefined
    for (const [step, { firstLine, count }] of this.steps) {
      if (line >= firstLine && line < firstLine + count) return this.offsetOf(step, line)
      if (firstLine >= line && (best === undefined || firstLine < best.firstLine)) best = { step, firstLine }
    }
    return best === undefined ? 0 : this.offsetOf(best.step, best.firstLine)
  }
}

const stepOf = (ts: string) => Math.round((Date.parse(ts) - Date.parse(PAYSIM_EPOCH)) / HOUR_MS) + 1

/**
 * Local mode: a PaySim file replayed at a steady pace into the same pipeline. It is partition 0 of a
 * source named after the file; the last committed line is stored with each batch, so a restarted app
 * carries on after it instead of starting over.
 */
export class FileReplaySource implements IngestSource {
  readonly streamIds = false
  readonly description: string
  private rows: AsyncGenerator<PaysimRow> | undefined
  private epoch: number | undefined
  private committedLine = 1
  private readLine = 1
  /** Lines up to here may have been stored before a failure: checked before scoring. */
  private recheckUntil = 0
  /** Lines up to here are read one at a time, to find the one the store refuses. */
  private isolateUntil = 0
  private total: number | null = null
  private paceStart = 0
  private paced = 0
  private paused = false
  private datasetKey = ''
  private schedule: LiveSchedule | undefined
  /** Real time (ms) of the schedule's start; set when the replay takes its place in the file. */
  private anchor: number | undefined
  /** A row read before its time came: sent first by the next read. */
  private early: PaysimRow | undefined

  constructor(private readonly options: FileReplayOptions) {
    this.description =
      options.live === undefined
        ? `Sample replay of ${basename(options.path)} at ${options.tps} transactions/s`
        : `Sample replay of ${basename(options.path)} in real time (its hours from now, up to ${options.tps} transactions/s)`
  }

  async start(): Promise<void> {
    this.datasetKey = await paysimDatasetKey(this.options.path)
    this.total = await countDataLines(this.options.path)
    if (this.options.live !== undefined) this.schedule = await LiveSchedule.of(this.options.path)
  }

  private now(): number {
    return this.options.live?.now?.() ?? Date.now()
  }

  /** When a row is due (ms), and its transaction with that event time; PaySim's time without live. */
  private timed(row: PaysimRow): { due: number; row: PaysimRow } {
    if (this.schedule === undefined || this.anchor === undefined || !('txn' in row))
      return { due: -Infinity, row }
    const due = this.anchor + this.schedule.offsetOf(stepOf(row.txn.ts), row.line)
    return { due, row: { line: row.line, txn: { ...row.txn, ts: new Date(due).toISOString() } } }
  }

  changeDue(): boolean {
    return this.epoch === undefined && !this.paused
  }

  async rebalance(store: PipelineStore): Promise<number[]> {
    if (this.epoch !== undefined || this.paused) return []
    const { epoch, position } = await store.takeOver(0, 'local')
    this.epoch = epoch
    this.committedLine = position === null ? 1 : Number(position)
    // First start: the file's first `historyMs` lie in the past. After a restart the next line is due
    // now: what was stored before is older, so every user's order is kept.
    if (this.schedule !== undefined)
      this.anchor =
        position === null
          ? this.now() - (this.options.live?.historyMs ?? 0)
          : this.now() - this.schedule.offsetAtLine(this.committedLine + 1)
    this.rewind(0)
    return []
  }

  epochOf(partition: number): number | undefined {
    return partition === 0 ? this.epoch : undefined
  }

  async read(maxEntries: number): Promise<SourceBatch> {
    if (this.epoch === undefined) return { entries: [], redelivered: false, isolated: false }
    const isolated = this.readLine < this.isolateUntil
    // At most a fifth of a second's worth per batch; the next batch waits until its rows are due.
    let due = Math.floor(((Date.now() - this.paceStart) * this.options.tps) / 1000) - this.paced
    if (due > this.options.tps) {
      // Live rows came slower than the pace: no burst of saved-up allowance later.
      this.paceStart = Date.now() - 1000
      this.paced = 0
      due = this.options.tps
    }
    const wanted = isolated ? 1 : Math.min(maxEntries, Math.max(1, Math.ceil(this.options.tps / 5)))
    if (due < wanted) {
      await new Promise((resolve) => setTimeout(resolve, ((wanted - due) * 1000) / this.options.tps))
    }
    this.rows ??= readPaysimFile(this.options.path, this.datasetKey, this.committedLine)
    const entries: StreamEntry[] = []
    let finished = false
    while (entries.length < wanted) {
      const next = this.early ?? (await this.rows.next()).value
      this.early = undefined
      if (next === undefined) {
        finished = true
        break
      }
      const { due: at, row } = this.timed(next)
      if (at > this.now()) {
        this.early = next
        // Nothing due yet: wait for the row's time (at most a second, so a pause or stop is prompt).
        if (entries.length === 0)
          await new Promise((resolve) => setTimeout(resolve, Math.min(1000, at - this.now())))
        break
      }
      this.readLine = row.line
      entries.push(
        'txn' in row
          ? { partition: 0, id: String(row.line), fields: encodeTransaction(row.txn) }
          : { partition: 0, id: String(row.line), fields: [], rejected: row.error },
      )
    }
    this.paced += entries.length
    if (entries.length === 0)
      return finished
        ? { entries, redelivered: false, isolated: false, finished: true }
        : { entries, redelivered: false, isolated: false }
    const first = Number(entries[0]?.id)
    return { entries, redelivered: first <= this.recheckUntil, isolated }
  }

  async settle(acks: Map<number, string[]>, dead: DeadLetter[]): Promise<void> {
    const last = acks.get(0)?.at(-1)
    if (last !== undefined) this.committedLine = Math.max(this.committedLine, Number(last))
    for (const letter of dead) this.options.onDeadLetter?.(letter)
  }

  rewind(refused: number): void {
    void this.rows?.return(undefined)
    this.rows = undefined
    this.early = undefined
    this.recheckUntil = this.readLine
    this.isolateUntil = refused > 0 ? this.readLine : 0
    this.readLine = this.committedLine
    this.paceStart = Date.now()
    this.paced = 0
  }

  setPaused(paused: boolean): void {
    this.paused = paused
    if (!paused) {
      this.paceStart = Date.now()
      this.paced = 0
    }
  }

  async info(): Promise<SourceInfo> {
    const done = Math.max(0, this.committedLine - 1)
    return {
      partitions: [],
      deadLetterTotal: null,
      progress: { done: this.total === null ? done : Math.min(done, this.total), total: this.total },
    }
  }

  async stop(store: PipelineStore): Promise<void> {
    await this.rows?.return(undefined)
    this.rows = undefined
    this.early = undefined
    if (this.epoch !== undefined) await store.release(0, this.epoch).catch(() => {})
    this.epoch = undefined
  }
}
