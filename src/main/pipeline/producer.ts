import type { Transaction } from '../../shared/transaction'
import { connectRedis, RedisStreams, type RedisConnection } from './redis-stream'
import { partitionOf, partitionStream, validateLayout, type StreamLayout } from './partitioning'
import { encodeTransaction } from './wire'
import { messageOf } from '../errors'

/**
 * The producer behind `aether replay`: transactions onto the partition streams, each on its user's
 * partition, pipelined, at a steady rate or as fast as Redis takes them.
 *
 * It rides out a Redis or network restart: an XADD without a reply is sent again, in order, once Redis
 * answers, for up to `retryForMs` without progress. An entry is sent twice only when its first XADD got no
 * reply (Redis may have taken it); the worker stores a txn_id once, so such a copy is absorbed. Nothing is
 * ever re-sent that Redis confirmed.
 */

/** `line` is the row's position (a file's line number, a generator's index); without one, rows count 1, 2, … */
export type ReplayRow = { line?: number; txn: Transaction } | { line: number; error: string }

export interface ReplayProgress {
  /** Rows written to Redis at least once. */
  sent: number
  /** Rows Redis answered with an entry id: accepted by Redis. */
  confirmed: number
  /** XADDs sent again after an attempt that failed or got no reply. */
  retried: number
  rejected: number
  elapsedMs: number
  /** When the number of rows is known. */
  total: number | undefined
}

/** Where a run stands, for resuming it: positions are the rows' `line` values. */
export interface ReplayCheckpoint {
  /** Every row up to and including this position was confirmed or refused (0: none yet). */
  through: number
  /** Rows after `through` that were confirmed too (those sent while an earlier row still waited for Redis). */
  confirmedAfter: number[]
}

export interface ReplaySummary extends ReplayProgress {
  /** The first refused rows, with their line numbers. */
  problems: { line: number; error: string }[]
  /** Confirmed rows per partition. */
  perPartition: number[]
  /**
   * Re-sends of rows whose earlier XADD got no reply: each may be in the stream one more time (the
   * worker stores the transaction once).
   */
  unconfirmedResent: number
  /** Rows sent whose XADD was never confirmed (only when the run stopped early). */
  unconfirmed: number
  /** Rows left out because an earlier run confirmed them (`resumeFrom`). */
  skipped: number
  cancelled: boolean
  /** Why the run stopped before the end: Redis unreachable for too long, or refusing the entries. */
  failure: string | undefined
  checkpoint: ReplayCheckpoint
}

export interface RetryNotice {
  /** What failed, as the driver or Redis said it. */
  error: string
  /** Entries waiting to be sent again. */
  waiting: number
  /** Since when Redis has not taken them. */
  failingForMs: number
}

export interface ReplayOptions {
  redis: RedisConnection
  layout: StreamLayout
  rows: AsyncIterable<ReplayRow> | Iterable<ReplayRow>
  total?: number | undefined
  /** Transactions per second; undefined sends as fast as possible. */
  tps?: number | undefined
  onProgress?: (progress: ReplayProgress) => void
  progressEveryMs?: number
  /** Called at most every `progressEveryMs` and once at the end, for saving a resumable position. */
  onCheckpoint?: (checkpoint: ReplayCheckpoint) => void
  /**
   * Where an earlier run stopped: its rows after `through` are what `rows` should yield (the source skips
   * the rest), and the ones it confirmed after that are not sent again.
   */
  resumeFrom?: ReplayCheckpoint
  /** How long Redis may fail to take entries before the run gives up (default 120 s). */
  retryForMs?: number
  onRetry?: (notice: RetryNotice) => void
  signal?: AbortSignal
}

export const DEFAULT_RETRY_FOR_MS = 120_000

/** Reply errors after which Redis may well take the same XADD a moment later. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|OOM|READONLY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|NOREPLICAS|MISCONF)\b/
/** ioredis's words for a command it never wrote (offline queue disabled). */
const NOT_WRITTEN = /Stream isn't writeable/
/** A pipeline this long without a reply means a dead connection: reconnect. */
const COMMAND_TIMEOUT_MS = 15_000
const WINDOW = 4

interface Entry {
  position: number
  partition: number
  fields: string[]
  confirmed: boolean
  /** The last attempt got no reply: Redis may hold the entry already. */
  maybeStored: boolean
  written: boolean
}

interface Batch {
  entries: Entry[]
  /** The last row position this batch covers, refused and skipped rows included. */
  through: number
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted === true) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })

export async function replay(options: ReplayOptions): Promise<ReplaySummary> {
  const layout = validateLayout(options.layout)
  const retryForMs = options.retryForMs ?? DEFAULT_RETRY_FOR_MS
  const skip = new Set(options.resumeFrom?.confirmedAfter ?? [])
  const signal = options.signal
  const streams = new RedisStreams(options.redis, layout, 'replay')
  // No queue and no automatic resend: this code decides what is sent again, so it can count it.
  const redis = connectRedis(options.redis, {
    name: 'aether-replay',
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    commandTimeout: COMMAND_TIMEOUT_MS,
  })
  let connectionError: string | undefined
  redis.on('error', (error: Error) => {
    connectionError = error.message
  })
  const perPartition = new Array<number>(layout.partitions).fill(0)
  const problems: { line: number; error: string }[] = []
  const keys = Array.from({ length: layout.partitions }, (_, p) => partitionStream(layout, p))
  // Small pipelines when paced keep the rate smooth; big ones when flat out keep round trips rare.
  const chunk = options.tps === undefined ? 1000 : Math.max(1, Math.min(500, Math.round(options.tps / 200)))
  const progressEveryMs = options.progressEveryMs ?? 1000
  const started = Date.now()
  let sent = 0
  let confirmed = 0
  let retried = 0
  let unconfirmedResent = 0
  let rejected = 0
  let skipped = 0
  let dispatched = 0
  let lastProgress = started
  let failure: string | undefined
  let lastError: string | undefined
  /** Batches not yet wholly confirmed, in order; rows up to doneThrough are all confirmed or refused. */
  const open: Batch[] = []
  let doneThrough = options.resumeFrom?.through ?? 0
  const window: { batch: Batch; reply: Promise<void> }[] = []
  const stopped = () => failure !== undefined || signal?.aborted === true

  const progress = (): ReplayProgress => ({
    sent,
    confirmed,
    retried,
    rejected,
    elapsedMs: Date.now() - started,
    total: options.total,
  })

  const checkpoint = (): ReplayCheckpoint => {
    let through = doneThrough
    const after: number[] = []
    let gap = false
    for (const batch of open) {
      for (const entry of batch.entries) {
        if (!gap && !entry.confirmed) {
          gap = true
          through = entry.position - 1
        } else if (gap && entry.confirmed) after.push(entry.position)
      }
      if (!gap) through = batch.through
    }
    for (const position of skip) if (position > through) after.push(position)
    return { through, confirmedAfter: after.sort((a, b) => a - b) }
  }

  const report = (force = false) => {
    const now = Date.now()
    if (!force && now - lastProgress < progressEveryMs) return
    lastProgress = now
    options.onProgress?.(progress())
    options.onCheckpoint?.(checkpoint())
  }

  /** One pipelined XADD per entry; never rejects: each entry comes back confirmed or not. */
  const attempt = async (entries: Entry[]): Promise<void> => {
    const pipeline = redis.pipeline()
    for (const entry of entries) pipeline.xadd(keys[entry.partition] as string, '*', ...entry.fields)
    let results: [Error | null, unknown][] | null = null
    let failed: unknown
    try {
      results = await pipeline.exec()
    } catch (error) {
      failed = error
    }
    let timedOut = false
    entries.forEach((entry, i) => {
      const reply = results?.[i]
      const error = reply === undefined ? (failed ?? new Error('no reply')) : reply[0]
      const text = error === null ? '' : messageOf(error)
      const written = error === null || !NOT_WRITTEN.test(text)
      if (written) {
        if (!entry.written) sent++
        entry.written = true
      }
      if (error === null) {
        entry.confirmed = true
        entry.maybeStored = false
        confirmed++
        perPartition[entry.partition] = (perPartition[entry.partition] ?? 0) + 1
        return
      }
      lastError = NOT_WRITTEN.test(text)
        ? `Redis is not connected${connectionError ? ` (${connectionError})` : ''}`
        : text
      if ((error as { name?: string }).name === 'ReplyError') {
        // Redis answered: the entry is not in the stream.
        if (!TRANSIENT_REPLY.test(text)) failure ??= `Redis refused the entries: ${text}`
        entry.maybeStored = false
      } else if (written) {
        entry.maybeStored = true
        if (/timed out/i.test(text)) timedOut = true
      }
    })
    if (timedOut) redis.disconnect(true)
  }

  const unconfirmedOf = (batches: Batch[]) =>
    batches.flatMap((batch) => batch.entries.filter((e) => !e.confirmed))

  /** Sends the unconfirmed entries of these batches again, in order, until Redis takes them all. */
  const resend = async (batches: Batch[]): Promise<void> => {
    const since = Date.now()
    let delay = 100
    for (;;) {
      const todo = unconfirmedOf(batches)
      if (todo.length === 0 || stopped()) return
      if (Date.now() - since > retryForMs) {
        failure = `Redis did not take entries for ${Math.round(retryForMs / 1000)} s: ${lastError ?? 'no reply'}`
        return
      }
      options.onRetry?.({
        error: lastError ?? 'no reply',
        waiting: todo.length,
        failingForMs: Date.now() - since,
      })
      await sleep(delay, signal)
      delay = Math.min(delay * 2, 2000)
      if (redis.status !== 'ready' || stopped()) continue
      try {
        // A Redis that lost its data (no persistence) lost the groups too: make sure they exist again.
        await streams.prepareForProducing()
      } catch (error) {
        lastError = messageOf(error)
        continue
      }
      for (let i = 0; i < todo.length && !stopped(); i += chunk) {
        const part = todo.slice(i, i + chunk)
        for (const entry of part) {
          retried++
          if (entry.maybeStored) unconfirmedResent++
        }
        await attempt(part)
        if (part.some((entry) => !entry.confirmed)) break
      }
      if (unconfirmedOf(batches).length < todo.length) delay = 100
    }
  }

  const prune = () => {
    while (open.length > 0 && (open[0] as Batch).entries.every((entry) => entry.confirmed)) {
      doneThrough = (open.shift() as Batch).through
    }
  }

  /** Waits for the oldest pipeline's replies; on any failure, lets the rest settle and sends again in order. */
  const settleOldest = async () => {
    const head = window.shift()
    if (head === undefined) return
    await head.reply
    if (head.batch.entries.some((entry) => !entry.confirmed)) {
      const rest = window.splice(0)
      await Promise.all(rest.map((item) => item.reply))
      await resend([head.batch, ...rest.map((item) => item.batch)])
    }
    prune()
    report()
  }

  const dispatch = async (batch: Batch) => {
    open.push(batch)
    if (batch.entries.length > 0) window.push({ batch, reply: attempt(batch.entries) })
    dispatched += batch.entries.length
    while (window.length >= WINDOW && !stopped()) await settleOldest()
  }

  const newBatch = (): Batch => ({ entries: [], through: 0 })

  try {
    // The first connection may take a restart's time too.
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        await streams.prepareForProducing()
        // The sending connection has no offline queue: wait until it is up, so nothing waits on it.
        for (let waited = 0; redis.status !== 'ready'; waited += 50) {
          if (waited > 5000) throw new Error(connectionError ?? `the connection is ${redis.status}`)
          await sleep(50, signal)
          if (signal?.aborted === true) break
        }
        break
      } catch (error) {
        lastError = connectionError ?? messageOf(error)
        const failingForMs = Date.now() - started
        if (failingForMs > retryForMs) {
          failure = `Could not reach Redis for ${Math.round(retryForMs / 1000)} s: ${lastError}`
          break
        }
        if (signal?.aborted === true) break
        options.onRetry?.({ error: lastError, waiting: 0, failingForMs })
        await sleep(delay, signal)
      }
    }
    let batch = newBatch()
    let ordinal = 0
    if (!stopped())
      for await (const row of options.rows) {
        if (stopped()) break
        ordinal++
        const position = row.line ?? ordinal
        batch.through = position
        if (skip.has(position)) {
          skipped++
          continue
        }
        if ('error' in row) {
          rejected++
          if (problems.length < 20) problems.push({ line: row.line, error: row.error })
          continue
        }
        batch.entries.push({
          position,
          partition: partitionOf(row.txn.user_id, layout.partitions),
          fields: encodeTransaction(row.txn),
          confirmed: false,
          maybeStored: false,
          written: false,
        })
        if (batch.entries.length < chunk) continue
        if (options.tps !== undefined) {
          const dueAt = started + ((dispatched + batch.entries.length) * 1000) / options.tps
          if (dueAt > Date.now()) await sleep(dueAt - Date.now(), signal)
          if (stopped()) break
        }
        await dispatch(batch)
        batch = newBatch()
        report()
      }
    if (!stopped() && batch.through > 0) await dispatch(batch)
    while (window.length > 0 && !stopped()) await settleOldest()
  } finally {
    // Cancelled or given up: what is on the wire still gets its reply, so the checkpoint is exact.
    await Promise.all(window.map((item) => item.reply))
    prune()
    redis.disconnect()
    await streams.close()
  }
  report(true)
  return {
    ...progress(),
    problems,
    perPartition,
    unconfirmedResent,
    unconfirmed: open.reduce(
      (n, batch) => n + batch.entries.filter((entry) => entry.written && !entry.confirmed).length,
      0,
    ),
    skipped,
    cancelled: signal?.aborted === true,
    failure,
    checkpoint: checkpoint(),
  }
}
