import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { createInterface } from 'node:readline'
import { isPaysimHeader, parsePaysimLine, PaysimRowError } from '../../shared/paysim'
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

export async function* readPaysimFile(
  path: string,
  datasetKey: string,
  afterLine = 1,
): AsyncGenerator<PaysimRow> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity })
  let line = 0
  try {
    for await (const text of lines) {
      line++
      if (line === 1) {
        if (!isPaysimHeader(text))
          throw new Error(
            `${path} is not a PaySim CSV: its first line is not the PaySim header (step,type,amount,…)`,
          )
        continue
      }
      if (line <= afterLine || text.trim() === '') continue
      try {
        yield { line, txn: parsePaysimLine(text, { datasetKey, line }) }
      } catch (error) {
        if (!(error instanceof PaysimRowError)) throw error
        yield { line, error: error.message }
      }
    }
  } finally {
    lines.close()
  }
}

/** Data lines of a file (without its header), counted once for a replay's progress. */
export async function countDataLines(path: string): Promise<number> {
  let newlines = 0
  let last = 10
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) newlines++
    if (chunk.length > 0) last = chunk[chunk.length - 1] as number
  }
  return Math.max(0, newlines + (last === 10 ? 0 : 1) - 1)
}

export interface FileReplayOptions {
  path: string
  /** Transactions per second: a gentle pace, so a replay on the app's own thread stays unnoticed. */
  tps: number
  /** Dead letters (rows that are not transactions) are reported here; a file has no dead-letter stream. */
  onDeadLetter?: (letter: DeadLetter) => void
}

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

  constructor(private readonly options: FileReplayOptions) {
    this.description = `Sample replay of ${basename(options.path)} at ${options.tps} transactions/s`
  }

  async start(): Promise<void> {
    this.datasetKey = await paysimDatasetKey(this.options.path)
    this.total = await countDataLines(this.options.path)
  }

  changeDue(): boolean {
    return this.epoch === undefined && !this.paused
  }

  async rebalance(store: PipelineStore): Promise<number[]> {
    if (this.epoch !== undefined || this.paused) return []
    const { epoch, position } = await store.takeOver(0, 'local')
    this.epoch = epoch
    this.committedLine = position === null ? 1 : Number(position)
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
    const due = Math.floor(((Date.now() - this.paceStart) * this.options.tps) / 1000) - this.paced
    const wanted = isolated ? 1 : Math.min(maxEntries, Math.max(1, Math.ceil(this.options.tps / 5)))
    if (due < wanted) {
      await new Promise((resolve) => setTimeout(resolve, ((wanted - due) * 1000) / this.options.tps))
    }
    this.rows ??= readPaysimFile(this.options.path, this.datasetKey, this.committedLine)
    const entries: StreamEntry[] = []
    while (entries.length < wanted) {
      const next = await this.rows.next()
      if (next.done === true) break
      const row = next.value
      this.readLine = row.line
      entries.push(
        'txn' in row
          ? { partition: 0, id: String(row.line), fields: encodeTransaction(row.txn) }
          : { partition: 0, id: String(row.line), fields: [], rejected: row.error },
      )
    }
    this.paced += entries.length
    if (entries.length === 0) return { entries, redelivered: false, isolated: false, finished: true }
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
    if (this.epoch !== undefined) await store.release(0, this.epoch).catch(() => {})
    this.epoch = undefined
  }
}
