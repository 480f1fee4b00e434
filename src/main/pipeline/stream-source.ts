import type { PartitionOwnership } from './ownership'
import { partitionOf, partitionStream, streamSource, type StreamLayout } from './partitioning'
import {
  compareIds,
  LeaseLostError,
  type DeadLetter,
  type FencedReply,
  type RedisStreams,
  type StrayStream,
  type StreamEntry,
} from './redis-stream'
import type { PipelineStore } from './sink'
import { decodeTransaction, type TimeWindow } from './wire'
import { ReplayGapError, type IngestSource, type SourceBatch, type SourceInfo } from './worker'

interface HeldPartition {
  token: string
  epoch: number
  /**
   * claim: re-reading what is pending (after a takeover or a failure), from `cursor`; new: reading
   * entries never delivered. A partition is always fully re-read before new entries, so a user's
   * transactions are scored in stream order.
   */
  mode: 'claim' | 'new'
  cursor: string
  /** Last entry id delivered on this partition: a blocking wait starts after it. */
  lastSeen: string
}

/** How often a worker trims the acknowledged entries off the partitions it holds. */
const TRIM_EVERY_MS = 5000
/** Entries a replay reads from a partition at a time. */
const REPLAY_CHUNK = 5000
/** How often a worker looks for stream keys no worker reads (a SCAN of the prefix: cheap, but not free). */
export const STRAY_SCAN_EVERY_MS = 30_000
/** Stray keys named at most: a producer writing one key per user must not flood the status. */
export const STRAY_STREAMS_NAMED = 100

export interface StreamSourceOptions {
  /** How long a read waits for new entries. */
  blockMs?: number
  strayScanMs?: number
}

const EMPTY: SourceBatch = { entries: [], redelivered: false, isolated: false }

/** Team mode: the partition streams of the team's Redis, shared by every worker in the group. */
export class RedisStreamSource implements IngestSource {
  readonly streamIds = true
  readonly description: string
  private readonly held = new Map<number, HeldPartition>()
  /**
   * While > 0, the store refused a batch: pending entries are re-read from one partition at a time, in
   * batches halved after each refusal, until a batch of one entry is refused (it becomes a dead letter).
   */
  private isolateCount = 0
  private lastIsolated = false
  private lastEntries = 0
  /** The last read gave less than it asked of every partition, none left to claim: the next one waits first. */
  private caughtUp = false
  private trimmedAt = performance.now()
  /** The trim in progress, if one is. */
  private trimming: Promise<void> | undefined
  private readonly blockMs: number
  private readonly strayScanMs: number
  /** The last complete look's stray keys; undefined until one finished. */
  private strays: StrayStream[] | undefined
  /** A look that did not cover the keyspace yet goes on from here, with the keys found so far. */
  private strayCursor = '0'
  private readonly strayKeys = new Set<string>()
  private strayTimer: NodeJS.Timeout | undefined
  private stopped = false
  /**
   * Per held partition, where its users' stored states go up to (the worker says, keepAfter): a trim
   * keeps the entries after it. A partition not named here is not trimmed.
   */
  private readonly keep = new Map<number, string>()

  constructor(
    private readonly streams: RedisStreams,
    private readonly ownership: PartitionOwnership,
    private readonly layout: StreamLayout,
    options: StreamSourceOptions = {},
  ) {
    this.description = `Redis streams ${streamSource(layout)} (${layout.partitions} partitions)`
    this.blockMs = options.blockMs ?? 500
    this.strayScanMs = options.strayScanMs ?? STRAY_SCAN_EVERY_MS
  }

  async start(): Promise<void> {
    await this.streams.checkLayout()
    this.ownership.start()
    this.lookForStraysIn(Math.min(1000, this.strayScanMs))
  }

  changeDue(): boolean {
    const wanted = this.ownership.wanted()
    for (const partition of this.held.keys())
      if (
        !wanted.has(partition) ||
        this.ownership.lost.has(partition) ||
        !this.ownership.leases.has(partition)
      )
        return true
    for (const partition of this.ownership.leases.keys()) if (!this.held.has(partition)) return true
    return false
  }

  async rebalance(store: PipelineStore): Promise<number[]> {
    const wanted = this.ownership.wanted()
    const left: number[] = []
    for (const [partition, held] of [...this.held]) {
      const lost = this.ownership.lost.has(partition) || !this.ownership.leases.has(partition)
      if (!lost && wanted.has(partition)) continue
      this.held.delete(partition)
      this.keep.delete(partition)
      left.push(partition)
      if (!lost) await store.release(partition, held.epoch)
      await this.ownership.release(partition)
    }
    for (const [partition, lease] of [...this.ownership.leases]) {
      if (this.held.has(partition)) continue
      if (!wanted.has(partition)) {
        await this.ownership.release(partition)
        continue
      }
      // The epoch goes up before anything is read: from here on the previous owner cannot commit.
      const { epoch } = await store.takeOver(partition, this.streams.consumer)
      const lastSeen = await this.streams.lastDelivered(partition)
      this.held.set(partition, { token: lease.token, epoch, mode: 'claim', cursor: '0-0', lastSeen })
    }
    return left
  }

  epochOf(partition: number): number | undefined {
    return this.held.get(partition)?.epoch
  }

  async read(maxEntries: number): Promise<SourceBatch> {
    if (this.held.size === 0) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(this.blockMs, 200)))
      return EMPTY
    }
    const claiming = [...this.held].filter(([, held]) => held.mode === 'claim')
    // Reaching here without a rewind means the last isolated batch went through: if it was one entry,
    // that was the refused one, handled as a dead letter.
    if ((this.lastIsolated && this.isolateCount === 1 && this.lastEntries === 1) || claiming.length === 0)
      this.isolateCount = 0
    const isolated = this.isolateCount > 0
    const chosen = isolated ? claiming.slice(0, 1) : [...this.held]
    const count = isolated ? this.isolateCount : Math.max(1, Math.ceil(maxEntries / chosen.length))
    // Caught up (the last read gave less than it asked, nothing left to claim): the read waits for new
    // entries first, in the same round trip (waitAndReadFenced). Entries that came meanwhile end the
    // wait at once.
    const wait =
      this.caughtUp && !isolated && claiming.length === 0
        ? { after: this.lastSeen(), blockMs: this.blockMs }
        : undefined
    this.caughtUp = false
    let replies: FencedReply[]
    let came: boolean | undefined
    try {
      ;({ replies, came } = await this.streams.waitAndReadFenced(
        chosen.map(([partition, held]) => ({
          partition,
          token: held.token,
          mode: held.mode,
          count,
          cursor: held.cursor,
        })),
        wait,
      ))
    } catch (error) {
      if (error instanceof LeaseLostError) this.ownership.lost.add(error.partition)
      // The group is gone (an operator's XGROUP DESTROY, or the stream deleted and written again): the
      // lease was still renewed, so no other worker would ever take the partition, and every read failed
      // for as long as the worker ran. Made again from the stream's first entry, as at the start; what
      // is stored already is known by the fences and not stored twice. The read is then tried again.
      if (/^NOGROUP/.test((error as Error).message)) {
        for (const [partition] of chosen) await this.streams.ensureGroup(partition, true)
        throw new Error(
          `the consumer group of partition(s) ${chosen.map(([partition]) => partition).join(', ')} was gone (deleted, or its stream deleted); made again from the stream's first entry`,
          { cause: error },
        )
      }
      throw error
    }
    const entries: StreamEntry[] = []
    let redelivered = false
    let deletedWhilePending = 0
    // A partition that gave all it was asked for has more waiting: the worker reads more next time.
    let full = false
    for (const reply of replies) {
      const held = this.held.get(reply.partition) as HeldPartition
      full ||= reply.entries.length >= count
      if (held.mode === 'claim') {
        redelivered ||= reply.entries.length > 0
        deletedWhilePending += reply.deleted
        if (reply.cursor === '0-0') held.mode = 'new'
        else held.cursor = reply.cursor
        // Delivered before, by a read whose reply was lost: the wait for new entries starts after them.
        const last = reply.entries.at(-1)
        if (last !== undefined && compareIds(last.id, held.lastSeen) > 0) held.lastSeen = last.id
      } else {
        const last = reply.entries.at(-1)
        if (last !== undefined) held.lastSeen = last.id
      }
      for (const entry of reply.entries) {
        checkPartition(entry, this.layout)
        entries.push(entry)
      }
    }
    this.lastIsolated = isolated
    this.lastEntries = entries.length
    const claimLeft = [...this.held.values()].some((held) => held.mode === 'claim')
    this.caughtUp = !full && !claimLeft
    let idle = false
    if (entries.length === 0 && !claimLeft) {
      // Waited for nothing: the stream is quiet. Read without a wait (the first read after a claim):
      // waits now, as the next read would.
      idle =
        came === false ||
        (came === undefined && !(await this.streams.waitForEntries(this.lastSeen(), this.blockMs)))
      // Entries came after what this worker was given, and the read got none of them: the group was
      // moved past them (XGROUP SETID, or delivered elsewhere). The wait starts after what the group has
      // delivered, or it would end at once again and again.
      if (came === true)
        for (const [partition, held] of this.held) {
          const delivered = await this.streams.lastDelivered(partition)
          if (compareIds(delivered, held.lastSeen) > 0) held.lastSeen = delivered
        }
      this.trimWhenDue()
    }
    return { entries, redelivered, isolated, full, idle, deletedWhilePending }
  }

  /** Each held partition's last delivered id: a wait for new entries starts after it. */
  private lastSeen(): Map<number, string> {
    return new Map([...this.held].map(([partition, held]) => [partition, held.lastSeen]))
  }

  async *replayEntries(partition: number, after: string, upTo: string): AsyncGenerator<StreamEntry[]> {
    const deleted = await this.streams.maxDeleted(partition).catch((error: unknown) => {
      if (!/no such key/i.test((error as Error).message)) throw error
      throw new ReplayGapError(
        `the stream of partition ${partition} is gone, with its entries after ${after}, which its users' states have not counted yet`,
      )
    })
    if (compareIds(deleted, after) > 0)
      throw new ReplayGapError(
        `entries of partition ${partition} after ${after}, which its users' states have not counted yet, were deleted from the stream by hand (XDEL, up to ${deleted})`,
      )
    let from = after
    for (;;) {
      const entries = await this.streams.entriesBetween(partition, from, upTo, REPLAY_CHUNK)
      for (const entry of entries) checkPartition(entry, this.layout)
      if (entries.length > 0) yield entries
      const last = entries.at(-1)
      if (last === undefined || entries.length < REPLAY_CHUNK) return
      from = last.id
    }
  }

  heldPartitions(): number[] {
    return [...this.held.keys()]
  }

  keepAfter(partition: number, id: string): void {
    if (this.held.has(partition)) this.keep.set(partition, id)
  }

  async settle(acks: Map<number, string[]>, dead: DeadLetter[]): Promise<void> {
    await this.streams.settle(acks, dead)
    this.trimWhenDue()
  }

  /**
   * Housekeeping, after a batch or while idle: a failure is retried next time and fails nothing. It runs
   * on the control connection beside the batches, never in their way (a trim is a few round trips per
   * partition, and a batch waiting for it waited that long for its commit), one at a time.
   */
  private trimWhenDue(): void {
    if (this.trimming !== undefined || performance.now() - this.trimmedAt < TRIM_EVERY_MS) return
    this.trimmedAt = performance.now()
    this.trimming = this.streams
      .trim([...this.keep.keys()], this.keep)
      .catch(() => 0)
      .then(() => {
        this.trimming = undefined
      })
  }

  /**
   * Housekeeping on its own timer, never in a batch's way: a failed look is tried again at the next one
   * and the last result stays. A keyspace too large for one look is covered over several, a second apart.
   */
  private lookForStraysIn(delayMs: number): void {
    if (this.stopped) return
    this.strayTimer = setTimeout(() => {
      void this.lookForStrays().then(
        (complete) => this.lookForStraysIn(complete ? this.strayScanMs : Math.min(1000, this.strayScanMs)),
        () => {
          this.strayCursor = '0'
          this.strayKeys.clear()
          this.lookForStraysIn(this.strayScanMs)
        },
      )
    }, delayMs)
    this.strayTimer.unref()
  }

  private async lookForStrays(): Promise<boolean> {
    const { cursor, keys } = await this.streams.scanStrayStreams(this.strayCursor)
    for (const key of keys) if (this.strayKeys.size < STRAY_STREAMS_NAMED) this.strayKeys.add(key)
    this.strayCursor = cursor
    if (cursor !== '0') return false
    const found = [...this.strayKeys].sort()
    this.strayKeys.clear()
    this.strays = await this.streams.streamLengths(found)
    return true
  }

  rewind(refused: number): void {
    for (const held of this.held.values()) {
      held.mode = 'claim'
      held.cursor = '0-0'
    }
    this.isolateCount = refused > 0 ? Math.max(1, Math.floor(refused / 2)) : 0
    this.lastIsolated = false
  }

  setPaused(paused: boolean): void {
    this.ownership.setPaused(paused)
  }

  async info(): Promise<SourceInfo> {
    const { partitions, deadLetters } = await this.streams.partitionInfo()
    return {
      partitions: partitions.map((info) => ({
        partition: info.partition,
        owner: info.owner,
        mine: info.owner === this.streams.consumer,
        lag: info.lag,
        pending: info.pending,
      })),
      deadLetterTotal: deadLetters,
      progress: null,
      ...(this.strays !== undefined ? { strayStreams: this.strays.map((stray) => ({ ...stray })) } : {}),
    }
  }

  async stop(store: PipelineStore): Promise<void> {
    // A look in flight fails on the closed connection, quietly, and schedules nothing more.
    this.stopped = true
    clearTimeout(this.strayTimer)
    await this.trimming
    for (const [partition, held] of this.held) await store.release(partition, held.epoch).catch(() => {})
    this.held.clear()
    await this.ownership.stop()
    await this.streams.close()
  }
}

/**
 * Whatever its time: a worker may accept times the default window refuses (--earliest-ts), and a
 * transaction on the wrong partition must never be scored, whichever window the worker has.
 */
const ANY_TIME: TimeWindow = { earliestMs: Number.NEGATIVE_INFINITY, aheadMs: Number.POSITIVE_INFINITY }

/**
 * An entry on a partition its user does not belong to is refused (a dead letter) rather than stored or
 * re-routed: the partition's owner may already have scored later transactions of that user, so storing
 * it, here or on the right partition, would score the user out of order without anyone noticing. Runs
 * for every entry, so it only finds the user_id field (the last one, as decoding does) and hashes it;
 * an entry that is not a valid transaction anyway is left to the worker's validation and its reason.
 */
function checkPartition(entry: StreamEntry, layout: StreamLayout): void {
  // Refused already (a field too long to read as text): that reason stands.
  if (entry.rejected !== undefined) return
  const fields = entry.fields
  let user: string | undefined
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'user_id') user = fields[i + 1]
  if (user === undefined || user === '') return
  const home = partitionOf(user, layout.partitions)
  if (home === entry.partition || !decodeTransaction(fields, ANY_TIME).ok) return
  entry.rejected = `wrong partition: user ${JSON.stringify(user.slice(0, 128))} belongs on partition ${home} (${partitionStream(layout, home)}), not partition ${entry.partition} where it arrived`
  entry.rejectedKind = 'wrong_partition'
}
