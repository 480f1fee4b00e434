import type { Transaction } from '../../shared/transaction'
import { connectRedis, RedisStreams, type RedisConnection } from './redis-stream'
import { partitionOf, partitionStream, validateLayout, type StreamLayout } from './partitioning'
import { encodeTransaction } from './wire'

/**
 * The producer behind `aether replay`: transactions onto the partition streams, each on its user's
 * partition, pipelined, at a steady rate or as fast as Redis takes them.
 */

export type ReplayRow = { line?: number; txn: Transaction } | { line: number; error: string }

export interface ReplayProgress {
  sent: number
  rejected: number
  elapsedMs: number
  /** When the number of rows is known. */
  total: number | undefined
}

export interface ReplaySummary extends ReplayProgress {
  /** The first refused rows, with their line numbers. */
  problems: { line: number; error: string }[]
  perPartition: number[]
  cancelled: boolean
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
  signal?: AbortSignal
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function replay(options: ReplayOptions): Promise<ReplaySummary> {
  const layout = validateLayout(options.layout)
  const streams = new RedisStreams(options.redis, layout, 'replay')
  const redis = connectRedis(options.redis, { name: 'aether-replay', maxRetriesPerRequest: 3 })
  const perPartition = new Array<number>(layout.partitions).fill(0)
  const problems: { line: number; error: string }[] = []
  const keys = Array.from({ length: layout.partitions }, (_, p) => partitionStream(layout, p))
  // Small pipelines when paced keep the rate smooth; big ones when flat out keep round trips rare.
  const chunk = options.tps === undefined ? 1000 : Math.max(1, Math.min(500, Math.round(options.tps / 200)))
  const started = Date.now()
  let sent = 0
  let rejected = 0
  let lastProgress = started
  const inFlight: Promise<unknown>[] = []
  const progress = (): ReplayProgress => ({
    sent,
    rejected,
    elapsedMs: Date.now() - started,
    total: options.total,
  })

  const flush = async (batch: Transaction[]) => {
    const pipeline = redis.pipeline()
    for (const txn of batch) {
      const partition = partitionOf(txn.user_id, layout.partitions)
      perPartition[partition] = (perPartition[partition] ?? 0) + 1
      pipeline.xadd(keys[partition] as string, '*', ...encodeTransaction(txn))
    }
    const results = await pipeline.exec()
    const failed = results?.find(([error]) => error !== null)
    if (failed) throw failed[0] as Error
  }

  try {
    await streams.prepareForProducing()
    let batch: Transaction[] = []
    for await (const row of options.rows) {
      if (options.signal?.aborted === true) break
      if ('error' in row) {
        rejected++
        if (problems.length < 20) problems.push({ line: row.line, error: row.error })
        continue
      }
      batch.push(row.txn)
      if (batch.length < chunk) continue
      if (options.tps !== undefined) {
        const dueAt = started + ((sent + batch.length) * 1000) / options.tps
        if (dueAt > Date.now()) await sleep(dueAt - Date.now())
      }
      inFlight.push(flush(batch))
      sent += batch.length
      batch = []
      if (inFlight.length >= 4) await inFlight.shift()
      const now = Date.now()
      if (options.onProgress !== undefined && now - lastProgress >= (options.progressEveryMs ?? 1000)) {
        lastProgress = now
        options.onProgress(progress())
      }
    }
    if (batch.length > 0 && options.signal?.aborted !== true) {
      inFlight.push(flush(batch))
      sent += batch.length
    }
    await Promise.all(inFlight)
  } finally {
    await Promise.allSettled(inFlight)
    redis.disconnect()
    await streams.close()
  }
  return { ...progress(), problems, perPartition, cancelled: options.signal?.aborted === true }
}
