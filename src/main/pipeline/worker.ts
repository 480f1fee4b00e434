import type { PipelinePartition, PipelineStatus } from '../../shared/pipeline-contract'
import type { Transaction } from '../../shared/transaction'
import {
  emptyUserState,
  MODEL_VERSION,
  packUserState,
  packedStateMember,
  packedStatesJson,
  replayTransaction,
  scoreTransaction,
  type UserState,
} from '../scoring'
import type { Store } from '../store/store'
import { BATCH_SIZE_BUCKETS, LatencyHistogram, xaddLatencyMs } from '../ops/latency'
import { compareIds, OversizedReplyError, type DeadLetter, type StreamEntry } from './redis-stream'
import { RulesSource, type ScoringConfig } from './rules-source'
import { watchScoringChanges } from './scoring-changes'
import {
  RowRejectedError,
  type PartitionFence,
  type PipelineStore,
  type ProbeRow,
  type ScoredRow,
  type StatesDocument,
} from './sink'
import { CONTENT_FIELDS, differingContent } from './transaction-content'
import { decodeTransaction, DEFAULT_TIME_WINDOW, type TimeWindow } from './wire'

/**
 * The pipeline worker: source → validate → per-user features → rules → one store transaction per batch
 * → acknowledge. The next batch is read and scored while the previous one commits, and a batch's
 * acknowledgement runs beside the next one's commit; at most one commit and one acknowledgement are in
 * flight, which bounds the work in memory (backpressure: nothing more is read until they are done).
 *
 * No entry can stop a partition: an entry the store refuses for its data (anywhere: loading states,
 * comparing with a stored version, writing) is found by trying the batch's rows in halves, becomes a
 * dead letter with the store's message, and the rest of the batch is stored.
 */

export interface SourceBatch {
  entries: StreamEntry[]
  /** Entries that may already be stored (a takeover's or a retry's re-read): checked before scoring. */
  redelivered: boolean
  /** Read one entry at a time to find the one the store refuses. */
  isolated: boolean
  /** A file replay reached the end of its file. */
  finished?: boolean
  /** Nothing came for as long as a read waits: the stream is quiet. */
  idle?: boolean
  /** Some partition gave as many entries as were asked of it: more are waiting (a backlog). */
  full?: boolean
  /**
   * Pending entries the re-read found deleted from their stream (XDEL, or a trim by another client)
   * before they were stored: gone, and counted (PipelineStatus.counts.deletedWhilePending).
   */
  deletedWhilePending?: number
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
  /**
   * A partition's entries after `after` up to `upTo`, oldest first, in chunks, as the stream holds them
   * (nothing delivered or acknowledged): a worker replays them into its users' states when they were
   * stored after the states' last checkpoint. Throws ReplayGapError when some are gone from the stream.
   * Only sources of a worker with checkpoints (Team mode) have it.
   */
  replayEntries?(partition: number, after: string, upTo: string): AsyncIterable<StreamEntry[]>
  /** The partition's users' states are stored up to this entry: what follows must stay (trims keep it). */
  keepAfter?(partition: number, id: string): void
  /** The partitions held now (sources of a worker with checkpoints). */
  heldPartitions?(): number[]
}

/** Entries a partition's users' states have not counted are gone from its stream (deleted by hand). */
export class ReplayGapError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ReplayGapError'
  }
}

export interface WorkerCounters {
  stored: number
  /** Producer duplicates: a second entry of a stored transaction, identical to it. */
  duplicates: number
  /** Entries read again that were stored already (after a crash, a failed acknowledgement, a takeover). */
  redelivered: number
  deletedWhilePending: number
  deadLetters: number
  alerts: number
  errors: number
  batches: number
}

export interface WorkerOptions {
  workerId: string
  mode: 'local' | 'team'
  /** Alerts of the team waiting for their case (an analyst's lock on it, 0022), as last seen. */
  alertsWaitingForCase?: () => number | undefined
  /** Entries per batch at most. */
  maxBatch?: number
  /**
   * How long a batch's scoring and commit should take while the stream keeps up (ms, default 8): reads
   * ask for as many entries as fit in it, at the cost per entry measured so far. A read that comes back
   * full (a backlog) doubles the size, up to maxBatch: behind, throughput counts; keeping up, latency.
   */
  batchDeadlineMs?: number
  /** Users whose state stays in memory between batches (beyond it, read back from the store). */
  maxCachedUsers?: number
  /**
   * How often the users' states advanced since the last checkpoint are written (ms; Team default 10,000).
   * 0 writes them with every batch, in its transaction (Local mode). Between checkpoints they live in
   * memory only: after a crash or a takeover the partition's entries since the checkpoint, which the
   * stream keeps, are replayed into them (0017). A checkpoint also comes when the stream goes quiet,
   * before partitions are given up, on a graceful stop, and when a quarter of maxCachedUsers is unwritten.
   */
  stateCheckpointMs?: number
  /**
   * A checkpoint is written in parts of whole partitions, each holding at least this many states
   * (default 1,000), 200 ms apart while batches go on (see CHECKPOINT_PART_USERS).
   */
  checkpointPartUsers?: number
  rulesPollMs?: number
  /**
   * Listens for the store's announcements that lists or rules changed, so a block takes effect from the
   * next batch; without it (or while it is down) changes are seen at the next poll.
   */
  listen?: Store['listen']
  /** The ts a transaction may carry (default: from 2000-01-01 to a day ahead of the clock). */
  timeWindow?: TimeWindow
  log?: (line: string) => void
  /**
   * Called after each commit, before the acknowledgement, with the rows the batch stored and each row's
   * stream entry (parallel arrays), and the entries that stored no row (duplicates, redeliveries,
   * conflicting versions): the gateway's reply channel hangs off this. It must not throw.
   */
  onStored?: (
    rows: readonly ScoredRow[],
    entries: readonly StreamEntry[],
    seenBefore: readonly SeenBefore[],
  ) => void
}

/**
 * An entry of a committed batch that stored no row: a producer's duplicate of a stored transaction, a
 * redelivery of one this worker stored, or a conflicting version (a dead letter). For the gateway's replies.
 */
export interface SeenBefore {
  entry: StreamEntry
  txnId: string
  kind: 'duplicate' | 'redelivered' | 'conflict'
  fields: string[]
}

/** Why an entry is a dead letter, as a bounded set of names for metrics (PipelineStatus.deadLettersByReason). */
export type DeadLetterKind = 'invalid' | 'wrong_partition' | 'conflicting_duplicate' | 'refused_by_store'

interface Refusal {
  letter: DeadLetter
  kind: DeadLetterKind
}

/** An entry that is a valid transaction. */
interface Accepted {
  entry: StreamEntry
  txn: Transaction
  /** The Decision API key that sent it, from the entry. */
  apiKeyId: string | undefined
}

interface CachedState {
  state: UserState
  /**
   * Number of the batch that last advanced it: it may leave memory only once that batch is committed
   * and a checkpoint after it has written it.
   */
  batch: number
  /**
   * The partition whose entries advanced it (none: read from the store and not advanced since; MIXED:
   * entries of two partitions did, as only a worker with a time window wider than the producers' can
   * let happen: its checkpoints then go in one part).
   */
  partition?: number
}

const MIXED = -1

/** The partition a state advanced by an entry of `partition` belongs to now. */
const advancedBy = (cached: CachedState | undefined, partition: number) =>
  cached?.partition === undefined || cached.partition === partition ? partition : MIXED

/**
 * The states a checkpoint writes, as they were when a batch was scored, and the positions they count up
 * to. Packing thousands of states at once would hold the event loop (and every entry waiting on it) for
 * a while: they are packed a few hundred at a time between batches, and a state a later batch is about
 * to advance is packed first.
 */
interface Checkpoint {
  /** The batch it was taken after. */
  batch: number
  users: string[]
  fences: PartitionFence[]
  /** Users whose state is not packed yet. */
  unpacked: Set<string>
  /** `"user":{state}` of each packed one, in its stored form (state-codec.ts). */
  members: string[]
  /** The user of each member, and the partition whose entries advanced it. */
  memberUsers: string[]
  memberPartitions: (number | undefined)[]
  /** The time of the batch it was taken after, once that batch is committed (null: now). */
  at?: string | null
}

/**
 * How long a checkpoint packs states at a time between batches (ms): a read or a commit whose reply
 * comes meanwhile waits for the turn to end. 500 states a turn took 3–8 ms on the 2-core bench machine,
 * a wait in the p99 of XADD → commit at 5,000 tx/s; a turn now ends within about a millisecond.
 */
const PACK_TURN_MS = 1
/** States packed between looks at the clock. */
const PACKED_BETWEEN_LOOKS = 25
/**
 * A checkpoint taken beside the batches is written in parts of whole partitions, each with at least this
 * many states (the last one takes what is left), this long apart: one transaction of every state advanced
 * in 10 s (15,000 users at 5,000 tx/s, 0.2–0.4 s of PostgreSQL's work and megabytes of WAL that the
 * batches' commits wait behind) held them up together; smaller ones, spread out, leave the queue time to
 * drain between them.
 */
const CHECKPOINT_PART_USERS = 1000
const CHECKPOINT_PART_GAP_MS = 200

interface PreparedBatch {
  number: number
  fences: PartitionFence[]
  rows: ScoredRow[]
  /** The entry of each row, for a dead letter if the store refuses the row. */
  rowEntries: StreamEntry[]
  /** Local mode: the states it advanced, written with it. */
  states: StatesDocument | undefined
  /** Team mode: a checkpoint to write once it is committed. */
  checkpoint: Checkpoint | undefined
  acks: Map<number, string[]>
  dead: Refusal[]
  duplicates: number
  redelivered: number
  seenBefore: SeenBefore[]
  /** Found stored from a commit of this worker whose outcome was unknown: stored by it after all. */
  recovered: { stored: number; alerts: number }
  produced: number[]
  /**
   * Where its entries' time went before the commit (ms): the read that brought them (Date.now(), against
   * the XADD times in `produced`), the read until scored (rules, state loads, scoring), then the wait
   * for the batch in flight. Recorded once committed, as the latency is.
   */
  readAt: number
  preparedMs: number
  queuedMs: number
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

/** Waits `ms`, or less: until the function handed to `onWake` is called. */
function pause(ms: number, onWake: (wake: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    onWake(() => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** Reads ask for at least this many entries (fewer when maxBatch is lower). */
const MIN_READ = 256
/** Batches of at least this many entries measure the cost per entry. */
const MEASURED_BATCH = 32

const entryKey = (entry: StreamEntry) => `${entry.partition}/${entry.id}`

export class PipelineWorker {
  readonly counters: WorkerCounters = {
    stored: 0,
    duplicates: 0,
    redelivered: 0,
    deletedWhilePending: 0,
    deadLetters: 0,
    alerts: 0,
    errors: 0,
    batches: 0,
  }
  readonly deadLettersByReason = new Map<DeadLetterKind, number>()
  readonly latency = new LatencyHistogram()
  /** Entries per committed batch, and how long its store transaction took (ms), for /metrics. */
  readonly batchSizes = new LatencyHistogram(BATCH_SIZE_BUCKETS)
  readonly commitTimes = new LatencyHistogram()
  /**
   * Where an entry's XADD → commit went, for /metrics: until a read brought it (per transaction stored),
   * then per committed batch its preparation (the read until scored) and its wait for the batch in
   * flight; the commit itself is commitTimes. In ms.
   */
  readonly stageTimes = {
    readWait: new LatencyHistogram(),
    prepare: new LatencyHistogram(),
    queued: new LatencyHistogram(),
  }
  private readonly rules: RulesSource
  private readonly cache = new Map<string, CachedState>()
  /** Entries found refused (by the store, or the scorer): dead letters when they are read again. */
  private readonly refused = new Map<string, { reason: string; kind: DeadLetterKind }>()
  /**
   * The last committed position of each partition, as far as this worker knows: a batch never moves it
   * back (a re-read batch ends before it), and it tells a redelivery from a producer's duplicate.
   * Forgotten after any failure, when a commit's outcome may be unknown, and read again.
   */
  private readonly positions = new Map<number, string | null>()
  /** Transactions of commits whose outcome is unknown (the connection dropped): txn id → alerted. */
  private readonly uncertain = new Map<string, boolean>()
  private inflight: Promise<void> | undefined
  /**
   * The acknowledgements of committed batches, one after another, beside the next batch's commit: a
   * commit waits for the one before it (the states it was scored from), never for that one's XACK.
   * Never rejects: a failure is kept in settleFailure, and the next drain throws it (a re-read follows,
   * which finds the batch stored and acknowledges it then).
   */
  private settling: Promise<void> = Promise.resolve()
  /** The acknowledgements up to the batch before the last committed one: at most one is left behind. */
  private settlingBefore: Promise<void> = Promise.resolve()
  private settleFailure: unknown
  private batchNumber = 0
  private committedBatch = 0
  /** Users whose state advanced since the last checkpoint was taken: never evicted before one is written. */
  private dirty = new Set<string>()
  /** Whether a batch moved a position since the last checkpoint was taken. */
  private moved = false
  /** The batch the last written checkpoint was taken after: a state last advanced by it or before is stored. */
  private checkpointedBatch = 0
  private checkpointTakenAt = performance.now()
  /** The checkpoint being written, beside the batches (one at a time). Never rejects. */
  private checkpointing: Promise<void> | undefined
  /** A checkpoint is taken and not yet written (or failed): no other is taken meanwhile. */
  private checkpointPending = false
  /** Something waits for the checkpoint being written: its parts go without pauses. */
  private hurried = false
  private hurryCheckpoint: (() => void) | undefined
  /** Users of the checkpoint being written whose part is not written yet: they stay in memory. */
  private readonly writing = new Set<string>()
  /** The checkpoint taken and not yet being written: its states are being packed, or its batch committed. */
  private openCheckpoint: Checkpoint | undefined
  /**
   * States were replayed: the next batch takes a checkpoint, so a failure that follows soon (a batch
   * the store refuses, found and read again) replays little, not all since the last one again.
   */
  private checkpointSoon = false
  /** The last entry id of each partition that a prepared batch held: how far a checkpoint goes. */
  private readonly scored = new Map<number, string>()
  private stopping = false
  private paused = false
  private running: Promise<void> | undefined
  private finished = false
  private waiting: string | undefined
  private lastError: { message: string; at: string } | undefined
  private backoffMs = 0
  private readonly rateSamples: { at: number; stored: number }[] = []
  private wake: (() => void) | undefined
  /** Entries the next read asks for (see readSize()), and whether the last read came back full. */
  private readEntries = 0
  private lastReadFull = false
  /** Scoring and commit time per entry (ms), a moving average over batches big enough to tell. */
  private msPerEntry = 0

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
      if (await this.settleInFlight())
        try {
          // What lives in memory only is written before the partitions are given back.
          await this.checkpointNow()
        } catch (error) {
          this.fail(error)
        }
      // The last batch failed: the states in memory may count it. Left to the next owner's replay.
      else this.forgetStates()
      // A checkpoint being written is finished before the partitions and connections go.
      await this.checkpointWritten()
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
      // The next owner of a partition given up starts from its states without replaying them.
      await this.checkpointNow()
      const left = await this.source.rebalance(this.store)
      if (left.length > 0) this.forgetPartitions()
    }
    if (this.paused || this.finished) {
      await this.idle(500)
      return
    }
    const batch = await this.source.read(this.readSize())
    const readAt = Date.now()
    const read = performance.now()
    const deleted = batch.deletedWhilePending ?? 0
    if (deleted > 0) {
      // Redis drops a deleted entry from the pending list as the re-read passes it: said once, here.
      this.counters.deletedWhilePending += deleted
      this.options.log?.(
        `${deleted} pending entr${deleted === 1 ? 'y was' : 'ies were'} deleted from the stream (XDEL, or a trim by another client) before being stored: lost, and counted as deleted_while_pending`,
      )
    }
    if (batch.finished === true) {
      await this.drain()
      this.finished = true
      this.options.log?.('the replay reached the end of its file')
      return
    }
    if (batch.entries.length === 0) {
      // Idle: the commit in flight is finished here, so a failure of it is never left unnoticed.
      await this.drain()
      // A quiet stream: the states are written now, so the store is current while nothing happens.
      if (batch.idle === true) await this.checkpointNow()
      return
    }
    // A re-read may hold what the batch in flight is storing: its outcome must be known first.
    let drainedMs = 0
    if (batch.redelivered || batch.isolated) {
      const draining = performance.now()
      await this.drain()
      drainedMs = performance.now() - draining
    }
    // A re-read (recovery, a takeover) drains what is pending as fast as it can.
    this.lastReadFull = batch.full === true || batch.redelivered
    // Read after the entries: a change announced while the read waited applies to them.
    const config = await this.rules.current()
    const started = performance.now()
    const prepared = await this.prepare(batch, config)
    const scored = performance.now()
    const scoringMs = scored - started
    await this.drain(false)
    // A re-read's wait for the batch in flight (before it was prepared) counts as its queue too.
    prepared.readAt = readAt
    prepared.preparedMs = scored - read - drainedMs
    prepared.queuedMs = drainedMs + performance.now() - scored
    const commit = this.commit(prepared, scoringMs)
    // Its failure is handled when the next step drains it; until then it must not count as unhandled.
    commit.catch(() => {})
    this.inflight = commit
    if (batch.redelivered || batch.isolated) await this.drain()
  }

  /**
   * Latency-aware batching: keeping up, a read asks for what can be scored and committed within the
   * batch deadline (light traffic gives small batches anyway); behind, each full read doubles it up to
   * maxBatch, so a backlog drains in big batches and no entry waits behind one bigger than it must.
   */
  private readSize(): number {
    const max = this.options.maxBatch ?? 4000
    const least = Math.min(max, MIN_READ)
    if (this.lastReadFull) this.readEntries = Math.max(this.readEntries * 2, least)
    else if (this.msPerEntry > 0)
      this.readEntries = Math.floor((this.options.batchDeadlineMs ?? 8) / this.msPerEntry)
    else this.readEntries = max
    this.readEntries = Math.min(max, Math.max(least, this.readEntries))
    return this.readEntries
  }

  private async idle(ms: number) {
    await pause(ms, (wake) => (this.wake = wake))
    this.wake = undefined
  }

  /**
   * Waits for the commit in flight, and for every acknowledgement unless `acknowledged` is false (the
   * next commit needs only the store written); a failure of either is this step's failure.
   */
  private async drain(acknowledged = true): Promise<void> {
    const inflight = this.inflight
    this.inflight = undefined
    let failure: unknown
    try {
      await inflight
    } catch (error) {
      failure = error
    }
    await (acknowledged ? this.settling : this.settlingBefore)
    if (failure === undefined && this.settleFailure !== undefined) {
      failure = this.settleFailure
      this.settleFailure = undefined
    }
    if (failure !== undefined) throw failure
  }

  /** Finishes what is in flight; false if it failed (said and counted). */
  private async settleInFlight(): Promise<boolean> {
    try {
      await this.drain()
      return true
    } catch (error) {
      this.fail(error)
      return false
    }
  }

  private async prepare(batch: SourceBatch, config: ScoringConfig): Promise<PreparedBatch> {
    // Here, never while this batch's states load: a state evicted then would be missing when it is scored.
    this.evict()
    const number = ++this.batchNumber
    const window = this.options.timeWindow ?? DEFAULT_TIME_WINDOW
    const now = Date.now()
    const acks = new Map<number, string[]>()
    const lastIds = new Map<number, string>()
    const dead: Refusal[] = []
    const accepted: Accepted[] = []
    const seen = new Map<string, Accepted>()
    let duplicates = 0
    let redelivered = 0
    const seenBefore: SeenBefore[] = []
    const late: { entry: StreamEntry; txn: Transaction; reason: string }[] = []
    const committed = await this.committedPositions(
      new Set([...batch.entries.map((entry) => entry.partition), ...(this.source.heldPartitions?.() ?? [])]),
      number,
    )
    // At or before its partition's committed position, an entry was in a committed batch itself.
    const handledBefore = (entry: StreamEntry) => {
      const position = committed.get(entry.partition)
      return batch.redelivered && position != null && compareIds(entry.id, position) <= 0
    }
    for (const entry of batch.entries) {
      let ids = acks.get(entry.partition)
      if (ids === undefined) acks.set(entry.partition, (ids = []))
      ids.push(entry.id)
      lastIds.set(entry.partition, entry.id)
      const refused = this.refused.size > 0 ? this.refused.get(entryKey(entry)) : undefined
      if (refused !== undefined) {
        this.refused.delete(entryKey(entry))
        dead.push(refusal(entry, refused.reason, refused.kind))
        continue
      }
      const decoded =
        entry.rejected === undefined
          ? decodeTransaction(entry.fields, window, now)
          : { ok: false as const, reason: entry.rejected }
      if (!decoded.ok) {
        if (decoded.outsideWindow !== undefined)
          late.push({ entry, txn: decoded.outsideWindow, reason: decoded.reason })
        else dead.push(refusal(entry, decoded.reason, entry.rejectedKind ?? 'invalid'))
        continue
      }
      const txn = decoded.txn
      txn.txn_id = txn.txn_id.toLowerCase()
      const first = seen.get(txn.txn_id)
      if (first === undefined) {
        const item = { entry, txn, apiKeyId: decoded.apiKeyId }
        seen.set(txn.txn_id, item)
        accepted.push(item)
        continue
      }
      const differs = differingFields(first, { entry, txn, apiKeyId: decoded.apiKeyId })
      const kind = differs.length > 0 ? 'conflict' : handledBefore(entry) ? 'redelivered' : 'duplicate'
      seenBefore.push({ entry, txnId: txn.txn_id, kind, fields: differs })
      if (differs.length === 0) {
        if (handledBefore(entry)) redelivered++
        else duplicates++
      } else
        dead.push(
          conflicting(
            entry,
            txn,
            differs,
            `came first in entry ${first.entry.id} of partition ${first.entry.partition}`,
            {
              ...versionOf(first.txn),
              partition: String(first.entry.partition),
            },
          ),
        )
    }

    // Refused for its time alone, an entry may be a copy of a transaction stored already (a retry, or an
    // entry read again, by a worker whose clock is behind the one that stored it): absorbed as such, as
    // the producer contract says, never a dead letter beside its stored copy.
    if (late.length > 0) {
      for (const item of late) item.txn.txn_id = item.txn.txn_id.toLowerCase()
      const stored = await this.store.storedVersions(late.map((item) => item.txn)).catch((error: unknown) => {
        if (error instanceof RowRejectedError) return new Map<number, { differs: string[] }>()
        throw error
      })
      late.forEach(({ entry, txn, reason }, index) => {
        const version = stored.get(index)
        if (version === undefined || version.differs.length > 0) {
          dead.push(refusal(entry, reason, 'invalid'))
          return
        }
        const kind = handledBefore(entry) ? 'redelivered' : 'duplicate'
        seenBefore.push({ entry, txnId: txn.txn_id, kind, fields: [] })
        if (kind === 'redelivered') redelivered++
        else duplicates++
      })
    }

    let fresh = accepted
    const recovered = { stored: 0, alerts: 0 }
    if (batch.redelivered) {
      const versions = await this.readRefusing(batch, config, accepted, dead, (items) =>
        this.store.storedVersions(items.map((item) => item.txn)),
      )
      fresh = []
      versions.items.forEach((item, index) => {
        const alerted = this.uncertain.get(item.txn.txn_id)
        this.uncertain.delete(item.txn.txn_id)
        const version = versions.result.get(index)
        if (version !== undefined) {
          const again = alerted !== undefined || handledBefore(item.entry) ? 'redelivered' : 'duplicate'
          const kind = version.differs.length > 0 ? 'conflict' : again
          seenBefore.push({ entry: item.entry, txnId: item.txn.txn_id, kind, fields: version.differs })
        }
        if (version === undefined) fresh.push(item)
        else if (version.differs.length > 0)
          dead.push(conflicting(item.entry, item.txn, version.differs, 'was stored already', version.stored))
        else if (alerted !== undefined) {
          recovered.stored++
          if (alerted) recovered.alerts++
        } else if (handledBefore(item.entry)) redelivered++
        else duplicates++
      })
    }

    const missing = (items: Accepted[]) => {
      const users = new Set<string>()
      for (const { txn } of items) if (!this.cache.has(txn.user_id)) users.add(txn.user_id)
      return [...users]
    }
    // The users the last (successful) load asked for: those of the items it returns.
    let wanted: string[] = []
    const loaded = await this.readRefusing(batch, config, fresh, dead, (items) =>
      this.store.loadStates((wanted = missing(items))),
    )
    fresh = loaded.items
    for (const user of wanted)
      this.cache.set(user, { state: loaded.result.get(user) ?? emptyUserState(), batch: 0 })

    const rows: ScoredRow[] = []
    const rowEntries: StreamEntry[] = []
    const produced: number[] = []
    const open = this.openCheckpoint
    for (const { entry, txn, apiKeyId } of fresh) {
      const cached = this.cache.get(txn.user_id) as CachedState
      // The checkpoint taken earlier writes this state as it is now, before this batch advances it.
      if (open?.unpacked.has(txn.user_id) === true) this.pack(open, txn.user_id)
      let result: ReturnType<typeof scoreTransaction>
      try {
        result = scoreTransaction(txn, cached.state, config.rules, config.lists)
      } catch (error) {
        // The state may be half advanced: the batch is read again from the store's states, without it.
        this.refused.set(entryKey(entry), {
          reason: `could not be scored: ${(error as Error).message}`,
          kind: 'invalid',
        })
        const refused = new RowRejectedError(`could not be scored: ${(error as Error).message}`, error)
        refused.entries = 0
        throw refused
      }
      // Re-inserting keeps the map in least-recently-used order for eviction.
      this.cache.delete(txn.user_id)
      this.cache.set(txn.user_id, {
        state: result.state,
        batch: number,
        partition: advancedBy(cached, entry.partition),
      })
      this.dirty.add(txn.user_id)
      rows.push({ txn, score: result.score, apiKeyId })
      rowEntries.push(entry)
      if (this.source.streamIds) produced.push(Number(entry.id.slice(0, entry.id.indexOf('-'))))
    }

    const fences: PartitionFence[] = []
    for (const [partition, last] of lastIds) {
      const epoch = this.source.epochOf(partition)
      if (epoch === undefined) throw new FencedError()
      const position = committed.get(partition)
      const fence = {
        partition,
        epoch,
        position: position != null && compareIds(position, last) > 0 ? position : last,
      }
      fences.push(fence)
      this.scored.set(partition, fence.position)
    }
    fences.sort((a, b) => a.partition - b.partition)
    this.moved = true
    // Local mode writes the states with every batch; Team mode at a checkpoint now and then.
    const inline = this.checkpointMs === 0
    return {
      number,
      fences,
      rows,
      rowEntries,
      states: inline ? this.takeStates() : undefined,
      checkpoint: !inline && this.checkpointDue() ? this.packLater(this.takeCheckpoint(number)) : undefined,
      acks,
      dead,
      duplicates,
      redelivered,
      seenBefore,
      recovered,
      produced,
      // Where its time went: set by step() once it is scored and the batch in flight is committed.
      readAt: 0,
      preparedMs: 0,
      queuedMs: 0,
      isolated: batch.isolated,
      entries: batch.entries.length,
    }
  }

  /**
   * The committed positions of these partitions, read from the store for those not known yet. Those
   * are new to this worker (a start, a takeover, after a failure): their users' states in the store go
   * up to the partition's last checkpoint, so the transactions stored since are replayed into them first.
   */
  private async committedPositions(
    partitions: Iterable<number>,
    batch: number,
  ): Promise<Map<number, string | null>> {
    const unknown = [...partitions].filter((partition) => !this.positions.has(partition))
    if (unknown.length === 0) return this.positions
    // A checkpoint being written changes what the store says: it is waited for.
    await this.checkpointWritten()
    for (const [partition, checkpoint] of await this.store.checkpoints(unknown)) {
      const { position, statePosition, stateAt } = checkpoint
      if (statePosition !== null && position !== null && stateAt !== null) {
        await this.replay(partition, statePosition, position, stateAt, batch)
        // The next checkpoint brings the stored states up to the position.
        if (compareIds(statePosition, position) < 0) this.moved = true
      }
      this.positions.set(partition, position)
      if (position !== null && !this.scored.has(partition)) this.scored.set(partition, position)
      this.source.keepAfter?.(partition, statePosition ?? position ?? '0-0')
    }
    return this.positions
  }

  /**
   * Brings the states of a partition's users up to its committed position: its entries after the states'
   * checkpoint (`after`) up to `upTo` are read from the stream again, and each one whose transaction was
   * stored from it after the checkpoint (`since`: see PipelineStore.storedSince) advances its user's
   * state, in stream order, as scoring it did. Nothing is written; the states are written by the next
   * checkpoint. A transaction's first such entry is the one that stored it.
   */
  private async replay(partition: number, after: string, upTo: string, since: string, batch: number) {
    if (compareIds(after, upTo) >= 0 || this.source.replayEntries === undefined) return
    const window = this.options.timeWindow ?? DEFAULT_TIME_WINDOW
    const now = Date.now()
    const applied = new Set<string>()
    const started = performance.now()
    let entries = 0
    try {
      for await (const chunk of this.source.replayEntries(partition, after, upTo)) {
        entries += chunk.length
        const txns: Transaction[] = []
        for (const entry of chunk) {
          if (entry.rejected !== undefined) continue
          const decoded = decodeTransaction(entry.fields, window, now)
          // Whether it was stored decides, not this worker's clock: one that stored it may run ahead.
          const txn = decoded.ok ? decoded.txn : decoded.outsideWindow
          if (txn === undefined) continue
          txn.txn_id = txn.txn_id.toLowerCase()
          txns.push(txn)
        }
        const stored = await this.store.storedSince(txns, since)
        await this.loadForReplay(
          txns.filter((txn, index) => stored.has(index) && !this.cache.has(txn.user_id)),
        )
        txns.forEach((txn, index) => {
          if (!stored.has(index) || applied.has(txn.txn_id)) return
          const cached = this.cache.get(txn.user_id)
          // A user whose stored state cannot be read: its entries are refused when they are scored.
          if (cached === undefined) return
          applied.add(txn.txn_id)
          // No checkpoint is open when a replay runs; were one, it keeps this state as it was.
          if (this.openCheckpoint?.unpacked.has(txn.user_id) === true)
            this.pack(this.openCheckpoint, txn.user_id)
          replayTransaction(txn, cached.state)
          cached.batch = batch
          cached.partition = advancedBy(cached, partition)
          this.dirty.add(txn.user_id)
        })
      }
    } catch (error) {
      if (!(error instanceof ReplayGapError)) throw error
      // The entries are gone for good: waiting would not bring them back. Said, and counted as an error.
      this.fail(
        new Error(
          `partition ${partition}: ${error.message}; its users' states go on from the store without them`,
        ),
      )
    }
    if (applied.size > 0) this.checkpointSoon = true
    this.options.log?.(
      `partition ${partition}: replayed ${applied.size.toLocaleString('en-US')} transactions stored after its states' checkpoint (${entries.toLocaleString('en-US')} entries read again, ${Math.round(performance.now() - started)} ms)`,
    )
  }

  /** The stored states of the users of these transactions; a user whose state cannot be read is left out. */
  private async loadForReplay(txns: Transaction[]) {
    const users = [...new Set(txns.map((txn) => txn.user_id))]
    const load = async (some: string[]) => {
      const states = await this.store.loadStates(some)
      for (const user of some) this.cache.set(user, { state: states.get(user) ?? emptyUserState(), batch: 0 })
    }
    try {
      await load(users)
    } catch (error) {
      if (!(error instanceof RowRejectedError)) throw error
      for (const user of users)
        await load([user]).catch((single: unknown) => {
          if (!(single instanceof RowRejectedError)) throw single
        })
    }
  }

  private get checkpointMs() {
    return this.options.stateCheckpointMs ?? (this.options.mode === 'team' ? 10_000 : 0)
  }

  /** Time for a checkpoint: its interval has passed, or too many states live in memory only. */
  private checkpointDue(): boolean {
    const crowded = this.dirty.size >= (this.options.maxCachedUsers ?? 200_000) / 4
    if (this.checkpointPending) {
      // Too many states live in memory only: the one being written goes at once, and the next one follows.
      if (crowded) this.hurry()
      return false
    }
    return this.checkpointSoon || performance.now() - this.checkpointTakenAt >= this.checkpointMs || crowded
  }

  /** The states advanced since the last one was taken, in their stored form (state-codec.ts), as one JSON text. */
  private takeStates(): StatesDocument {
    const states = new Map<string, UserState>()
    for (const user of this.dirty) states.set(user, (this.cache.get(user) as CachedState).state)
    this.dirty = new Set()
    this.moved = false
    this.checkpointTakenAt = performance.now()
    return { json: packedStatesJson(states), users: states.size }
  }

  /** A checkpoint of every partition a batch has moved, taken after batch `batch` was scored. */
  private takeCheckpoint(batch: number): Checkpoint {
    this.checkpointPending = true
    this.checkpointSoon = false
    const users = [...this.dirty]
    const fences: PartitionFence[] = []
    for (const [partition, position] of this.scored) {
      const epoch = this.source.epochOf(partition)
      if (epoch !== undefined) fences.push({ partition, epoch, position })
    }
    // Partition rows are locked in one order by every writer (batches too): two never wait on each other.
    fences.sort((a, b) => a.partition - b.partition)
    this.dirty = new Set()
    this.moved = false
    this.checkpointTakenAt = performance.now()
    const checkpoint: Checkpoint = {
      batch,
      users,
      fences,
      unpacked: new Set(users),
      members: [],
      memberUsers: [],
      memberPartitions: [],
    }
    this.openCheckpoint = checkpoint
    return checkpoint
  }

  private pack(checkpoint: Checkpoint, user: string) {
    const { state, partition } = this.cache.get(user) as CachedState
    checkpoint.members.push(packedStateMember(user, state))
    checkpoint.memberUsers.push(user)
    checkpoint.memberPartitions.push(partition)
    checkpoint.unpacked.delete(user)
  }

  private packLater(checkpoint: Checkpoint): Checkpoint {
    this.packInTurns(checkpoint)
    return checkpoint
  }

  /** Packs the checkpoint's states a millisecond at a time, each turn of the event loop, then writes it. */
  private packInTurns(checkpoint: Checkpoint) {
    const turn = () => {
      if (this.openCheckpoint !== checkpoint) return
      try {
        const started = performance.now()
        let packed = 0
        for (const user of checkpoint.unpacked) {
          this.pack(checkpoint, user)
          if (++packed % PACKED_BETWEEN_LOOKS === 0 && performance.now() - started >= PACK_TURN_MS) break
        }
      } catch (error) {
        // Outside any batch: said and counted here, and its users are left to the next checkpoint.
        this.dropCheckpoint(checkpoint)
        this.fail(new Error(`packing the users' states (a checkpoint): ${describeFailure(error)}`))
        return
      }
      if (checkpoint.unpacked.size > 0) setImmediate(turn)
      else this.writeWhenReady(checkpoint, true)
    }
    setImmediate(turn)
  }

  /** A checkpoint taken that will not be written: its users are left to the next one. */
  private dropCheckpoint(checkpoint: Checkpoint) {
    if (this.openCheckpoint !== checkpoint) return
    this.openCheckpoint = undefined
    this.checkpointPending = false
    for (const user of checkpoint.users) if (this.cache.has(user)) this.dirty.add(user)
    this.moved = true
  }

  /**
   * Starts writing the checkpoint once its states are packed and its batch is committed; `paced` beside
   * the batches (its parts apart), at once when something waits for it.
   */
  private writeWhenReady(checkpoint: Checkpoint, paced: boolean) {
    if (this.openCheckpoint !== checkpoint || checkpoint.unpacked.size > 0 || checkpoint.at === undefined)
      return
    this.openCheckpoint = undefined
    this.startCheckpoint(checkpoint, checkpoint.at, paced)
  }

  /**
   * Writes a checkpoint beside the batches, once the batch it was taken after is committed (`at`: that
   * batch's time; null when nothing is committed beside it), in parts of whole partitions (each part's
   * states with its partitions' fences, in one transaction). A failure loses nothing: the users of a part
   * not written are written by the next checkpoint (a fenced one: the partition's next owner replays
   * them), and the users of the parts written are stored.
   */
  private startCheckpoint(checkpoint: Checkpoint, at: string | null, paced: boolean) {
    this.hurried = !paced
    const parts = checkpointParts(checkpoint, this.options.checkpointPartUsers ?? CHECKPOINT_PART_USERS)
    // Packed but not stored: never evicted until their part is written (or put back among the dirty).
    for (const part of parts) for (const user of part.users) this.writing.add(user)
    // The parts of one checkpoint go within half its interval, however many there are.
    const gapMs = Math.min(CHECKPOINT_PART_GAP_MS, this.checkpointMs / 2 / parts.length)
    const write = async () => {
      let failure: unknown
      let failed = 0
      for (const [index, part] of parts.entries()) {
        if (index > 0 && !this.hurried) await this.checkpointGap(gapMs)
        try {
          // The text's own failure (too large a string) is this part's failure too.
          const outcome = await this.store.checkpoint({
            fences: part.fences,
            states: { json: `{${part.members.join(',')}}`, users: part.members.length },
            at,
            modelVersion: MODEL_VERSION,
          })
          if (outcome === 'fenced') throw new FencedError()
          for (const fence of part.fences) this.source.keepAfter?.(fence.partition, fence.position)
        } catch (error) {
          failed++
          for (const user of part.users) if (this.cache.has(user)) this.dirty.add(user)
          this.moved = true
          // A partition taken over: its next owner replays; the batch refused beside it is counted already.
          if (error instanceof FencedError)
            this.options.log?.(`writing the users' states (a checkpoint): ${describeFailure(error)}`)
          else failure ??= error
        } finally {
          for (const user of part.users) this.writing.delete(user)
        }
      }
      if (failed === 0) this.checkpointedBatch = Math.max(this.checkpointedBatch, checkpoint.batch)
      // Counted once a checkpoint: while none can be written the streams keep every entry since the last one.
      else if (failure !== undefined)
        this.fail(
          new Error(
            `writing the users' states (a checkpoint): ${describeFailure(failure)}${parts.length > 1 ? ` (${failed} of its ${parts.length} parts not written)` : ''}`,
          ),
        )
    }
    this.checkpointing = write().finally(() => {
      this.checkpointing = undefined
      this.checkpointPending = false
    })
  }

  /** The pause between two parts of a checkpoint; ends at once when something waits for the checkpoint. */
  private async checkpointGap(ms: number) {
    await pause(ms, (wake) => (this.hurryCheckpoint = wake))
    this.hurryCheckpoint = undefined
  }

  /** The checkpoint being written, its parts without pauses between them. */
  private async checkpointWritten() {
    this.hurry()
    await this.checkpointing
  }

  /** The rest of the checkpoint being written goes without pauses. */
  private hurry() {
    this.hurried = true
    this.hurryCheckpoint?.()
  }

  /** Packs what is left of the checkpoint at once and writes it, with nothing committed beside it. */
  private async writeNow(checkpoint: Checkpoint) {
    for (const user of checkpoint.unpacked) this.pack(checkpoint, user)
    checkpoint.at ??= null
    this.writeWhenReady(checkpoint, false)
    await this.checkpointWritten()
  }

  /**
   * A checkpoint now, with nothing in flight (a quiet stream, partitions given up, a stop). If it cannot
   * be written nothing is lost: whoever holds the partitions next replays what it would have written.
   */
  private async checkpointNow(): Promise<void> {
    if (this.checkpointMs === 0) return
    await this.drain()
    // One taken with the last batch is finished first.
    if (this.openCheckpoint !== undefined) await this.writeNow(this.openCheckpoint)
    await this.checkpointWritten()
    // Partitions taken over without a batch since are brought up to date (replayed) too.
    const held = this.source.heldPartitions?.()
    if (held !== undefined && held.length > 0) await this.committedPositions(held, this.batchNumber)
    if (this.dirty.size === 0 && !this.moved) return
    await this.writeNow(this.takeCheckpoint(this.batchNumber))
  }

  /**
   * A store read over the batch's transactions. When the store refuses an entry's data, the entries it
   * refuses are found, become dead letters, and the read runs again without them. When none can be
   * found alone, the source re-reads the batch in smaller parts (or this is the one entry such a part
   * holds, and it is the dead letter).
   */
  private async readRefusing<T>(
    batch: SourceBatch,
    config: ScoringConfig,
    items: Accepted[],
    dead: Refusal[],
    read: (items: Accepted[]) => Promise<T>,
  ): Promise<{ items: Accepted[]; result: T }> {
    for (;;) {
      try {
        return { items, result: await read(items) }
      } catch (error) {
        if (!(error instanceof RowRejectedError)) throw error
        const refused = await this.store.refusedRows(
          items.map((item) => probeRow(item, config)),
          MODEL_VERSION,
        )
        if (refused.size === 0 && !(batch.isolated && items.length === 1)) {
          error.entries = batch.entries.length
          throw error
        }
        if (refused.size === 0) refused.set(0, error.message)
        for (const [index, reason] of refused)
          dead.push(refusal((items[index] as Accepted).entry, reason, 'refused_by_store'))
        this.options.log?.(
          `the store refused ${refused.size} of a batch's entries; they go to the dead-letter stream (${[...refused.values()][0]})`,
        )
        items = items.filter((_, index) => !refused.has(index))
      }
    }
  }

  private async commit(batch: PreparedBatch, preparedMs = 0): Promise<void> {
    const { rows, states } = batch
    const dead = batch.dead
    const started = performance.now()
    let at: string | undefined
    try {
      at = await this.write(batch.fences, rows, states)
    } catch (error) {
      if (!(error instanceof RowRejectedError)) {
        // The connection may have dropped after the commit went through: a re-read tells.
        if (!(error instanceof FencedError || error instanceof RedeliveredError))
          for (const row of rows) this.uncertain.set(row.txn.txn_id, row.score.decision !== 'approve')
        throw error
      }
      error.entries = batch.entries
      if (!(batch.isolated && rows.length === 1)) await this.findRefusedRows(batch, error)
      // One entry, read on its own, that the store refuses: it is the bad one, and a dead letter when
      // it is read again, after the states it advanced are read back (and replayed) without it.
      this.refused.set(entryKey(batch.rowEntries[0] as StreamEntry), {
        reason: error.message,
        kind: 'refused_by_store',
      })
      error.entries = 0
      throw error
    }
    // Counted once committed: a failure to acknowledge (Redis down) must not lose the count, and the
    // re-read that follows finds these stored and counts them as redelivered.
    this.committedBatch = batch.number
    if (states !== undefined) this.checkpointedBatch = batch.number
    if (states !== undefined)
      for (const fence of batch.fences) this.source.keepAfter?.(fence.partition, fence.position)
    if (batch.checkpoint !== undefined) {
      if (at === undefined) {
        // Without the batch's time it could not tell its rows from the next batches': taken again later.
        this.dropCheckpoint(batch.checkpoint)
      } else {
        batch.checkpoint.at = at
        this.writeWhenReady(batch.checkpoint, true)
      }
    }
    const commitMs = performance.now() - started
    this.commitTimes.record(commitMs)
    // Small batches are mostly round trips: only those big enough to tell say what an entry costs.
    if (batch.entries >= MEASURED_BATCH) {
      const perEntry = (preparedMs + commitMs) / batch.entries
      this.msPerEntry = this.msPerEntry === 0 ? perEntry : this.msPerEntry * 0.8 + perEntry * 0.2
    }
    this.batchSizes.record(batch.entries)
    for (const fence of batch.fences) this.positions.set(fence.partition, fence.position)
    const now = Date.now()
    for (const produced of batch.produced) {
      const ms = xaddLatencyMs(now, produced)
      if (ms !== undefined) this.latency.record(ms)
      const waited = xaddLatencyMs(batch.readAt, produced)
      if (waited !== undefined) this.stageTimes.readWait.record(waited)
    }
    this.stageTimes.prepare.record(batch.preparedMs)
    this.stageTimes.queued.record(batch.queuedMs)
    this.counters.batches++
    this.counters.stored += rows.length + batch.recovered.stored
    this.counters.duplicates += batch.duplicates
    this.counters.redelivered += batch.redelivered
    this.counters.alerts += batch.recovered.alerts
    for (const row of rows) if (row.score.decision !== 'approve') this.counters.alerts++
    if ((rows.length > 0 || batch.seenBefore.length > 0) && this.options.onStored !== undefined)
      try {
        this.options.onStored(rows, batch.rowEntries, batch.seenBefore)
      } catch (error) {
        // A listener's failure (a reply channel down) never fails a committed batch.
        this.options.log?.(`after storing a batch: ${describeFailure(error)}`)
      }
    this.settlingBefore = this.settling
    this.settling = this.settling.then(async () => {
      // After a failed acknowledgement the re-read acknowledges what follows it too.
      if (this.settleFailure !== undefined) return
      try {
        await this.source.settle(
          batch.acks,
          dead.map((refused) => refused.letter),
        )
        this.counters.deadLetters += dead.length
        for (const { kind } of dead)
          this.deadLettersByReason.set(kind, (this.deadLettersByReason.get(kind) ?? 0) + 1)
      } catch (error) {
        this.settleFailure = error
      }
    })
  }

  /**
   * The store refused the batch: finds the rows it refuses, which become dead letters when the batch
   * is read again (their users' states counted them here, so the batch is scored again). Always throws.
   */
  private async findRefusedRows(batch: PreparedBatch, error: RowRejectedError): Promise<never> {
    const states = JSON.parse(batch.states?.json ?? '{}') as Record<string, unknown>
    const refused = await this.store.refusedRows(
      batch.rows.map((row) => ({
        ...row,
        state: JSON.stringify(Object.hasOwn(states, row.txn.user_id) ? states[row.txn.user_id] : {}),
      })),
      MODEL_VERSION,
    )
    if (refused.size > 0) {
      for (const [index, reason] of refused)
        this.refused.set(entryKey(batch.rowEntries[index] as StreamEntry), {
          reason,
          kind: 'refused_by_store',
        })
      this.options.log?.(
        `the store refused ${refused.size} of a batch's ${batch.rows.length} transactions; they go to the dead-letter stream and the rest is stored (${[...refused.values()][0]})`,
      )
      error.entries = 0
    }
    throw error
  }

  /** Commits a batch; its time (see PipelineStore.commitAt). */
  private async write(fences: PartitionFence[], rows: ScoredRow[], states: StatesDocument | undefined) {
    const { outcome, at } = await this.store.commitAt({ fences, rows, states, modelVersion: MODEL_VERSION })
    if (outcome === 'fenced') throw new FencedError()
    if (outcome === 'redelivered') throw new RedeliveredError()
    return at
  }

  /**
   * Keeps memory bounded: the least recently used states go, never one that lives in memory only (a
   * batch in flight, or no checkpoint yet, has advanced it).
   */
  private evict() {
    const max = this.options.maxCachedUsers ?? 200_000
    if (this.cache.size <= max) return
    const stored = Math.min(this.committedBatch, this.checkpointedBatch)
    const open = this.openCheckpoint
    for (const [user, cached] of this.cache) {
      if (this.cache.size <= max) break
      if (
        cached.batch > stored ||
        this.dirty.has(user) ||
        this.writing.has(user) ||
        open?.unpacked.has(user) === true
      )
        continue
      this.cache.delete(user)
    }
  }

  private async recover(error: unknown): Promise<void> {
    // The batch in flight may have failed too: a refusal there counts as much as one here.
    const inflight = await this.drain().then(
      () => [],
      (failure: unknown) => [failure],
    )
    const failures = [error, ...inflight]
    // Both the commit in flight and an acknowledgement may have failed: the re-read answers for both.
    if (this.settleFailure !== undefined) {
      failures.push(this.settleFailure)
      this.settleFailure = undefined
    }
    this.forgetStates()
    this.source.rewind(
      Math.max(
        ...failures.map((failure) => (failure instanceof RowRejectedError ? (failure.entries ?? 1) : 0)),
      ),
    )
    // A redelivery, a refused entry and a field too long for text are handled by the re-read: none is a
    // failure (the last is said, once a read).
    for (const failure of failures)
      if (failure instanceof OversizedReplyError) this.options.log?.(failure.message)
    const others = failures.filter(
      (failure) =>
        !(
          failure instanceof RedeliveredError ||
          failure instanceof RowRejectedError ||
          failure instanceof OversizedReplyError
        ),
    )
    for (const failure of others) this.fail(failure)
    if (others.length === 0) return
    if (others.every((failure) => failure instanceof FencedError)) {
      await sleep(200)
      return
    }
    // A service is down (or the schema is missing): wait, then try again, for as long as it takes.
    this.waiting = describeFailure(others.find((failure) => !(failure instanceof FencedError)))
    this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 100), 5000)
    if (!this.stopping) await this.idle(this.backoffMs)
  }

  /** Partitions were left: what was known about them belongs to their next owner now. */
  private forgetPartitions() {
    this.forgetStates()
    this.refused.clear()
    this.uncertain.clear()
  }

  /**
   * States and positions are read from the store again (and the entries since the states' checkpoint
   * replayed) before the next batch is scored.
   */
  private forgetStates() {
    // A checkpoint taken with a batch that failed is never written.
    this.openCheckpoint = undefined
    if (this.checkpointing === undefined) this.checkpointPending = false
    this.cache.clear()
    this.positions.clear()
    this.dirty = new Set()
    this.scored.clear()
    this.moved = false
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
    message ??= this.rules.problem ?? this.rules.stale
    const waitingForCase = this.options.alertsWaitingForCase?.()
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
        redelivered: this.counters.redelivered,
        deletedWhilePending: this.counters.deletedWhilePending,
        deadLetters: this.counters.deadLetters,
        alerts: this.counters.alerts,
        errors: this.counters.errors,
      },
      deadLettersByReason: Object.fromEntries(this.deadLettersByReason),
      deadLetterTotal: info.deadLetterTotal,
      rulesVersion: this.rules.version ?? null,
      progress: info.progress,
      partitions: info.partitions,
      ...(info.strayStreams !== undefined ? { strayStreams: info.strayStreams } : {}),
      ...(waitingForCase !== undefined ? { alertsWaitingForCase: waitingForCase } : {}),
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
  if (code === '55P03')
    return (
      `Another session holds a lock this worker needs (${text}): a table locked in an open transaction ` +
      '(`LOCK TABLE` in psql) or a migration running; pg_locks shows who. Retrying.'
    )
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|57P0[1-3]|08\d\d\d)$/.test(code))
    return `A service is unavailable (${text}); retrying.`
  return text
}

const refusal = (entry: StreamEntry, reason: string, kind: DeadLetterKind): Refusal => ({
  letter: { partition: entry.partition, id: entry.id, fields: entry.fields, reason },
  kind,
})

/** What a transaction would write on its own, scored from an empty state: for finding a refused one. */
function probeRow({ txn, apiKeyId }: Accepted, config: ScoringConfig): ProbeRow {
  const result = scoreTransaction(txn, emptyUserState(), config.rules, config.lists)
  return { txn, score: result.score, apiKeyId, state: JSON.stringify(packUserState(result.state)) }
}

/** The fields in which two entries of one txn_id differ, the partition included. */
function differingFields(first: Accepted, second: Accepted): string[] {
  const differs: string[] = differingContent(first.txn, second.txn)
  if (first.entry.partition !== second.entry.partition) differs.push('partition')
  return differs
}

/** A transaction's compared fields as text, absent ones as null. */
function versionOf(txn: Transaction): Record<string, string | boolean | null> {
  const version: Record<string, string | boolean | null> = {}
  for (const name of CONTENT_FIELDS) version[name] = txn[name] ?? null
  return version
}

/**
 * A second entry of a transaction with other content: neither version can be taken for the other, so it
 * is a dead letter naming what differs and carrying the other version; the first one stays.
 */
function conflicting(
  entry: StreamEntry,
  txn: Transaction,
  differs: string[],
  other: string,
  version: Record<string, unknown>,
): Refusal {
  const mine: Record<string, unknown> = { ...versionOf(txn), partition: String(entry.partition) }
  const values = differs.map(
    (name) =>
      `${name}: ${JSON.stringify(mine[name] ?? null)} here, ${JSON.stringify(version[name] ?? null)} there`,
  )
  return refusal(
    entry,
    `conflicting duplicate: txn_id ${txn.txn_id} ${other} with other values (${values.join('; ')}); the other version: ${JSON.stringify(version)}`,
    'conflicting_duplicate',
  )
}

/**
 * A checkpoint's parts: whole partitions in order (a user's state goes with its partition's fence), each
 * part at least `partUsers` states, the last one with what is left and any state whose partition has no
 * fence in it.
 */
function checkpointParts(checkpoint: Checkpoint, partUsers: number) {
  // A state that entries of two partitions advanced goes with both fences: everything in one part.
  if (checkpoint.memberPartitions.includes(MIXED)) partUsers = Number.POSITIVE_INFINITY
  const fenced = new Set(checkpoint.fences.map((fence) => fence.partition))
  const members = new Map<number, number[]>()
  const loose: number[] = []
  checkpoint.memberPartitions.forEach((partition, index) => {
    if (partition === undefined || !fenced.has(partition)) loose.push(index)
    else {
      const indexes = members.get(partition)
      if (indexes === undefined) members.set(partition, [index])
      else indexes.push(index)
    }
  })
  type Part = { fences: PartitionFence[]; members: string[]; users: string[] }
  const parts: Part[] = []
  const empty = (): Part => ({ fences: [], members: [], users: [] })
  const add = (part: Part, index: number) => {
    part.members.push(checkpoint.members[index] as string)
    part.users.push(checkpoint.memberUsers[index] as string)
  }
  let part = empty()
  for (const fence of checkpoint.fences) {
    part.fences.push(fence)
    for (const index of members.get(fence.partition) ?? []) add(part, index)
    if (part.members.length >= partUsers) {
      parts.push(part)
      part = empty()
    }
  }
  for (const index of loose) add(part, index)
  if (parts.length === 0 || part.fences.length > 0 || part.members.length > 0) parts.push(part)
  return parts
}
