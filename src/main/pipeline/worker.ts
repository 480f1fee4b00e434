import type { PipelinePartition, PipelineStatus } from '../../shared/pipeline-contract'
import type { Transaction } from '../../shared/transaction'
import { emptyUserState, MODEL_VERSION, scoreTransaction, type UserState } from '../scoring'
import type { Store } from '../store/store'
import { LatencyHistogram } from './metrics'
import type { DeadLetter, StreamEntry } from './redis-stream'
import { RulesSource, type ScoringConfig } from './rules-source'
import { watchScoringChanges } from './scoring-changes'
import { RowRejectedError, type PartitionFence, type PipelineStore, type ScoredRow } from './sink'
import { decodeTransaction } from './wire'

/**
 * The pipeline worker: source → validate → per-user features → rules → one store transaction per batch
 * → acknowledge. The next batch is read and scored while the previous one commits; at most one commit is
 * in flight, which bounds the work in memory (backpressure: nothing more is read until it is done).
 */

export interface SourceBatch {
  entries: StreamEntry[]
  /** Entries that may already be stored (a takeover's or a retry's re-read): checked before scoring. */
  redelivered: boolean
  /** Read one entry at a time to find the one the store refuses. */
  isolated: boolean
  /** A file replay reached the end of its file. */
  finished?: boolean
}

export interface SourceInfo {
  partitions: PipelinePartition[]
  deadLetterTotal: number | null
  progress: { done: number; total: number | null } | null
  /** Stream keys under the prefix that no worker reads (Team mode), with their length. */
  strayStreams?: { key: string; length: number }[]
}

/** Where entries come from: Redis partition streams in Team mode, a file replay in Local mode. */
export interface IngestSource {
  readonly description: string
  /** Whether entry ids are stream ids, whose first part is the time of the XADD (for latency). */
  readonly streamIds: boolean
  start(): Promise<void>
  /** A partition to take over, give up or drop is waiting for a batch boundary. */
  changeDue(): boolean
  /** Applies ownership changes while no batch is in flight; returns the partitions left. */
  rebalance(store: PipelineStore): Promise<number[]>
  epochOf(partition: number): number | undefined
  read(maxEntries: number): Promise<SourceBatch>
  /** After a commit: dead letters written, then entries acknowledged. */
  settle(acks: Map<number, string[]>, dead: DeadLetter[]): Promise<void>
  /**
   * After a failure: everything not committed is read again. `refused` > 0 when the store refused a
   * batch of that many entries: the source then re-reads in smaller batches to find the bad entry.
   */
  rewind(refused: number): void
  setPaused(paused: boolean): void
  info(): Promise<SourceInfo>
  /** Leaves for good: gives partitions back, closes connections. Called with nothing in flight. */
  stop(store: PipelineStore): Promise<void>
}

export interface WorkerCounters {
  stored: number
  duplicates: number
  deadLetters: number
  alerts: number
  errors: number
  batches: number
}

export interface WorkerOptions {
  workerId: string
  mode: 'local' | 'team'
  /** Entries per batch at most. */
  maxBatch?: number
  /** Users whose state stays in memory between batches (beyond it, read back from the store). */
  maxCachedUsers?: number
  rulesPollMs?: number
  /**
   * Listens for the store's announcements that lists or rules changed, so a block takes effect from the
   * next batch; without it (or while it is down) changes are seen at the next poll.
   */
  listen?: Store['listen']
  log?: (line: string) => void
}

interface CachedState {
  state: UserState
  /** Number of the batch that last wrote it: it may leave memory only once that batch is committed. */
  batch: number
}

interface PreparedBatch {
  number: number
  fences: PartitionFence[]
  rows: ScoredRow[]
  /** The entry of each row, for a dead letter if the store refuses the row. */
  rowEntries: StreamEntry[]
  states: Map<string, string>
  acks: Map<number, string[]>
  dead: DeadLetter[]
  duplicates: number
  produced: number[]
  isolated: boolean
  /** Entries read for the batch, dead letters and duplicates included. */
  entries: number
}

class FencedError extends Error {
  constructor() {
    super('Another worker has taken a partition of this batch over; the batch is left to it')
    this.name = 'FencedError'
  }
}

class RedeliveredError extends Error {
  constructor() {
    super('Some transactions of the batch were stored already; scoring it again without them')
    this.name = 'RedeliveredError'
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export class PipelineWorker {
  readonly counters: WorkerCounters = {
    stored: 0,
    duplicates: 0,
    deadLetters: 0,
    alerts: 0,
    errors: 0,
    batches: 0,
  }
  readonly latency = new LatencyHistogram()
  private readonly rules: RulesSource
  private readonly cache = new Map<string, CachedState>()
  private inflight: Promise<void> | undefined
  private batchNumber = 0
  private committedBatch = 0
  private stopping = false
  private paused = false
  private running: Promise<void> | undefined
  private finished = false
  private waiting: string | undefined
  private lastError: { message: string; at: string } | undefined
  private backoffMs = 0
  private readonly rateSamples: { at: number; stored: number }[] = []
  private wake: (() => void) | undefined

  constructor(
    private readonly source: IngestSource,
    private readonly store: PipelineStore,
    private readonly options: WorkerOptions,
  ) {
    this.rules = new RulesSource(store, options.rulesPollMs)
  }

  get workerId() {
    return this.options.workerId
  }

  start(): void {
    this.running ??= this.run()
  }

  /** Graceful stop: the batch in flight is committed and acknowledged, partitions are given back. */
  async stop(): Promise<void> {
    this.stopping = true
    this.wake?.()
    await this.running
  }

  pause(): void {
    this.paused = true
    this.source.setPaused(true)
  }

  resume(): void {
    this.paused = false
    this.source.setPaused(false)
    this.wake?.()
  }

  private async run(): Promise<void> {
    const scoringChanges =
      this.options.listen === undefined
        ? undefined
        : watchScoringChanges(this.options.listen, () => this.rules.invalidate(), this.options.log)
    try {
      try {
        await this.source.start()
      } catch (error) {
        this.fail(error)
      }
      while (!this.stopping) {
        try {
          await this.step()
          this.waiting = undefined
          this.backoffMs = 0
        } catch (error) {
          await this.recover(error)
        }
      }
      await this.settleInFlight()
      try {
        await this.source.stop(this.store)
      } catch (error) {
        this.fail(error)
      }
    } finally {
      await scoringChanges?.stop()
    }
  }

  private async step(): Promise<void> {
    if (this.source.changeDue() || this.paused) {
      await this.drain()
      const left = await this.source.rebalance(this.store)
      if (left.length > 0) this.cache.clear()
    }
    if (this.paused || this.finished) {
      await this.idle(500)
      return
    }
    const batch = await this.source.read(this.options.maxBatch ?? 4000)
    if (batch.finished === true) {
      await this.drain()
      this.finished = true
      this.options.log?.('the replay reached the end of its file')
      return
    }
    if (batch.entries.length === 0) {
      // Idle: the commit in flight is finished here, so a failure of it is never left unnoticed.
      await this.drain()
      return
    }
    // A re-read may hold what the batch in flight is storing: its outcome must be known first.
    if (batch.redelivered || batch.isolated) await this.drain()
    // Read after the entries: a change announced while the read waited applies to them.
    const config = await this.rules.current()
    const prepared = await this.prepare(batch, config)
    await this.drain()
    const commit = this.commit(prepared)
    // Its failure is handled when the next step drains it; until then it must not count as unhandled.
    commit.catch(() => {})
    this.inflight = commit
    if (batch.redelivered || batch.isolated) await this.drain()
  }

  private async idle(ms: number) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
    this.wake = undefined
  }

  /** Waits for the commit in flight; its failure is this step's failure. */
  private async drain(): Promise<void> {
    const inflight = this.inflight
    this.inflight = undefined
    await inflight
  }

  private async settleInFlight(): Promise<void> {
    try {
      await this.drain()
    } catch (error) {
      this.fail(error)
    }
  }

  private async prepare(batch: SourceBatch, config: ScoringConfig): Promise<PreparedBatch> {
    const number = ++this.batchNumber
    const acks = new Map<number, string[]>()
    const positions = new Map<number, string>()
    const dead: DeadLetter[] = []
    const accepted: { entry: StreamEntry; txn: Transaction }[] = []
    const seen = new Set<string>()
    let duplicates = 0
    for (const entry of batch.entries) {
      let ids = acks.get(entry.partition)
      if (ids === undefined) acks.set(entry.partition, (ids = []))
      ids.push(entry.id)
      positions.set(entry.partition, entry.id)
      const decoded =
        entry.rejected === undefined
          ? decodeTransaction(entry.fields)
          : { ok: false as const, reason: entry.rejected }
      if (!decoded.ok) {
        dead.push({ partition: entry.partition, id: entry.id, fields: entry.fields, reason: decoded.reason })
        continue
      }
      const txn = decoded.txn
      txn.txn_id = txn.txn_id.toLowerCase()
      if (seen.has(txn.txn_id)) duplicates++
      else {
        seen.add(txn.txn_id)
        accepted.push({ entry, txn })
      }
    }

    let fresh = accepted
    if (batch.redelivered) {
      const stored = await this.store.storedAmong(accepted.map(({ txn }) => txn.txn_id))
      fresh = accepted.filter(({ txn }) => !stored.has(txn.txn_id))
      duplicates += accepted.length - fresh.length
    }

    const missing = new Set<string>()
    for (const { txn } of fresh) if (!this.cache.has(txn.user_id)) missing.add(txn.user_id)
    if (missing.size > 0) {
      const loaded = await this.store.loadStates([...missing])
      for (const user of missing)
        this.cache.set(user, { state: loaded.get(user) ?? emptyUserState(), batch: 0 })
    }

    const rows: ScoredRow[] = []
    const rowEntries: StreamEntry[] = []
    const touched = new Map<string, UserState>()
    const produced: number[] = []
    for (const { entry, txn } of fresh) {
      const cached = this.cache.get(txn.user_id) as CachedState
      const result = scoreTransaction(txn, cached.state, config.rules, config.lists)
      // Re-inserting keeps the map in least-recently-used order for eviction.
      this.cache.delete(txn.user_id)
      this.cache.set(txn.user_id, { state: result.state, batch: number })
      touched.set(txn.user_id, result.state)
      rows.push({ txn, score: result.score })
      rowEntries.push(entry)
      if (this.source.streamIds) produced.push(Number(entry.id.slice(0, entry.id.indexOf('-'))))
    }

    const states = new Map<string, string>()
    for (const [user, state] of touched) states.set(user, JSON.stringify(state))
    const fences: PartitionFence[] = []
    for (const [partition, position] of positions) {
      const epoch = this.source.epochOf(partition)
      if (epoch === undefined) throw new FencedError()
      fences.push({ partition, epoch, position })
    }
    return {
      number,
      fences,
      rows,
      rowEntries,
      states,
      acks,
      dead,
      duplicates,
      produced,
      isolated: batch.isolated,
      entries: batch.entries.length,
    }
  }

  private async commit(batch: PreparedBatch): Promise<void> {
    let { rows, states } = batch
    const dead = batch.dead
    try {
      await this.write(batch.fences, rows, states)
    } catch (error) {
      // One entry, read on its own, that the store refuses: it is the bad one and becomes a dead letter.
      if (error instanceof RowRejectedError) error.entries = batch.entries
      if (!(error instanceof RowRejectedError && batch.isolated && rows.length === 1)) throw error
      const [row] = rows as [ScoredRow]
      const entry = batch.rowEntries[0] as StreamEntry
      this.cache.delete(row.txn.user_id)
      dead.push({ partition: entry.partition, id: entry.id, fields: entry.fields, reason: error.message })
      rows = []
      states = new Map()
      await this.write(batch.fences, rows, states)
    }
    await this.source.settle(batch.acks, dead)
    this.committedBatch = batch.number
    const now = Date.now()
    for (const produced of batch.produced) this.latency.record(now - produced)
    this.counters.batches++
    this.counters.stored += rows.length
    this.counters.duplicates += batch.duplicates
    this.counters.deadLetters += dead.length
    for (const row of rows) if (row.score.decision !== 'approve') this.counters.alerts++
    this.evict()
  }

  private async write(fences: PartitionFence[], rows: ScoredRow[], states: Map<string, string>) {
    const outcome = await this.store.commit({ fences, rows, states, modelVersion: MODEL_VERSION })
    if (outcome === 'fenced') throw new FencedError()
    if (outcome === 'redelivered') throw new RedeliveredError()
  }

  /** Keeps memory bounded: the least recently used states go, never one a batch in flight has written. */
  private evict() {
    const max = this.options.maxCachedUsers ?? 200_000
    if (this.cache.size <= max) return
    for (const [user, cached] of this.cache) {
      if (this.cache.size <= max || cached.batch > this.committedBatch) break
      this.cache.delete(user)
    }
  }

  private async recover(error: unknown): Promise<void> {
    await this.settleInFlight()
    this.cache.clear()
    this.source.rewind(error instanceof RowRejectedError ? (error.entries ?? 1) : 0)
    if (error instanceof RedeliveredError || error instanceof RowRejectedError) return
    this.fail(error)
    if (error instanceof FencedError) {
      await sleep(200)
      return
    }
    // A service is down (or the schema is missing): wait, then try again, for as long as it takes.
    this.waiting = describeFailure(error)
    this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 100), 5000)
    if (!this.stopping) await this.idle(this.backoffMs)
  }

  private fail(error: unknown) {
    this.counters.errors++
    const message = describeFailure(error)
    this.lastError = { message, at: new Date().toISOString() }
    this.options.log?.(message)
  }

  /** Transactions stored per second over the last ~5 s. */
  rate(): number {
    const now = Date.now()
    this.rateSamples.push({ at: now, stored: this.counters.stored })
    while (this.rateSamples.length > 2 && now - (this.rateSamples[1]?.at ?? now) >= 5000)
      this.rateSamples.shift()
    const first = this.rateSamples[0] as { at: number; stored: number }
    const seconds = (now - first.at) / 1000
    return seconds > 0 ? (this.counters.stored - first.stored) / seconds : 0
  }

  async status(): Promise<PipelineStatus> {
    let info: SourceInfo = { partitions: [], deadLetterTotal: null, progress: null }
    let message = this.waiting
    try {
      info = await this.source.info()
    } catch (error) {
      message ??= describeFailure(error)
    }
    message ??= this.rules.problem
    return {
      state: this.paused
        ? 'paused'
        : this.finished
          ? 'finished'
          : this.waiting !== undefined
            ? 'waiting'
            : this.running === undefined
              ? 'starting'
              : 'running',
      mode: this.options.mode,
      source: this.source.description,
      workerId: this.options.workerId,
      ratePerSecond: Math.round(this.rate() * 10) / 10,
      counts: {
        stored: this.counters.stored,
        duplicates: this.counters.duplicates,
        deadLetters: this.counters.deadLetters,
        alerts: this.counters.alerts,
        errors: this.counters.errors,
      },
      deadLetterTotal: info.deadLetterTotal,
      rulesVersion: this.rules.version ?? null,
      progress: info.progress,
      partitions: info.partitions,
      ...(info.strayStreams !== undefined ? { strayStreams: info.strayStreams } : {}),
      ...(message !== undefined ? { message } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      updatedAt: new Date().toISOString(),
    }
  }
}

export function describeFailure(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error)
  const code = (error as { code?: unknown }).code
  if (code === '42P01')
    return `The store has no pipeline tables yet (${text}); run \`aether migrate\` on it. Retrying.`
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|57P0[1-3]|08\d\d\d)$/.test(code))
    return `A service is unavailable (${text}); retrying.`
  return text
}
