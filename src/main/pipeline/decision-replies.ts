import type { Redis } from 'ioredis'
import type { Score } from '../../shared/transaction'
import { connectRedis, type RedisConnection, type StreamEntry } from './redis-stream'
import type { ScoredRow } from './sink'
import type { StreamLayout } from './partitioning'
import type { SeenBefore } from './worker'

/**
 * Decisions back to the gateway that is waiting for them. A gateway writes its transactions with an
 * extra `reply` field naming a Redis pub/sub channel of its own; after a batch is committed, the worker
 * publishes each stored decision to the channel its entry names, one PUBLISH per channel per batch.
 * An entry that stored no row is answered too: a duplicate of a stored transaction, a redelivery of one
 * stored before, or a conflicting version; the gateway then reads the stored decision or answers 409, so
 * it never reads the store before writing.
 * Pub/sub is fire-and-forget: a decision nobody hears is still stored, and the gateway answers with a
 * provisional one when its budget runs out, so a lost reply costs latency, never a transaction.
 */

/** The stream entry field naming the reply channel (reserved: docs/producer-contract.md). */
export const REPLY_FIELD = 'reply'
/** The stream entry field naming the API key that sent the transaction (for a later audit column). */
export const API_KEY_FIELD = 'api_key'

/** A gateway's reply channel: under the prefix, so teams sharing a Redis never hear each other. */
export const replyChannel = (layout: StreamLayout, gatewayId: string) =>
  `${layout.prefix}replies:${gatewayId}`

/** One stored decision as a reply carries it: exactly the stored score. */
export interface DecisionReply extends Score {
  txn_id: string
  /** The stream entry it answers, `partition:id`: two requests may send one txn_id with other content. */
  entry?: string
}

/** An entry that stored no row, and why (SeenBefore without the entry). */
export interface SeenReply {
  txn_id: string
  entry?: string
  seen: SeenBefore['kind']
  /** The fields in which a conflicting version differs from the stored one. */
  fields: string[]
}

export type WorkerReply = DecisionReply | SeenReply

export const isSeenReply = (reply: WorkerReply): reply is SeenReply => 'seen' in reply

/** How a reply names the stream entry it answers. */
export const entryName = (partition: number, id: string) => `${partition}:${id}`

interface Waiter {
  done: (reply: WorkerReply | undefined) => void
  /** The entry this request wrote, once the XADD said: replies about another entry are not its. */
  entry?: string
}

function fieldOf(entry: StreamEntry, name: string): string | undefined {
  let value: string | undefined
  // A field given twice counts with its last value, as the decoder reads it.
  for (let i = 0; i + 1 < entry.fields.length; i += 2)
    if (entry.fields[i] === name) value = entry.fields[i + 1]
  return value
}

/**
 * Groups the batch's stored rows by the reply channel their entries name and publishes each group as
 * one JSON array. Never throws: the batch is committed whatever happens to the replies.
 */
export async function publishDecisions(
  redis: Pick<Redis, 'publish'>,
  rows: readonly ScoredRow[],
  entries: readonly StreamEntry[],
  log?: (line: string) => void,
  seenBefore: readonly SeenBefore[] = [],
): Promise<void> {
  try {
    const byChannel = new Map<string, WorkerReply[]>()
    const add = (entry: StreamEntry | undefined, reply: () => WorkerReply) => {
      const channel = entry === undefined ? undefined : fieldOf(entry, REPLY_FIELD)
      if (channel === undefined || channel === '') return
      let replies = byChannel.get(channel)
      if (replies === undefined) byChannel.set(channel, (replies = []))
      replies.push(reply())
    }
    const named = (entry: StreamEntry | undefined) =>
      entry === undefined ? {} : { entry: entryName(entry.partition, entry.id) }
    rows.forEach((row, index) =>
      add(entries[index], () => ({ txn_id: row.txn.txn_id, ...named(entries[index]), ...row.score })),
    )
    for (const { entry, txnId, kind, fields } of seenBefore)
      add(entry, () => ({ txn_id: txnId, ...named(entry), seen: kind, fields }))
    await Promise.all(
      [...byChannel].map(([channel, replies]) => redis.publish(channel, JSON.stringify(replies))),
    )
  } catch (error) {
    log?.(`could not publish decisions to the waiting gateways (they answer provisionally): ${String(error)}`)
  }
}

/**
 * The worker's publisher: a Redis connection of its own, opened at the first batch that has replies to
 * send, so a worker no gateway writes to opens none.
 */
export class DecisionPublisher {
  private redis: Redis | undefined

  constructor(
    private readonly connection: RedisConnection,
    private readonly log?: (line: string) => void,
  ) {}

  /** For WorkerOptions.onStored: returns at once, the PUBLISH goes on in the background. */
  readonly onStored = (
    rows: readonly ScoredRow[],
    entries: readonly StreamEntry[],
    seenBefore: readonly SeenBefore[] = [],
  ): void => {
    if (
      !entries.some((entry) => fieldOf(entry, REPLY_FIELD) !== undefined) &&
      !seenBefore.some(({ entry }) => fieldOf(entry, REPLY_FIELD) !== undefined)
    )
      return
    this.redis ??= connectRedis(this.connection, { name: 'aether-decision-replies', maxRetriesPerRequest: 1 })
    void publishDecisions(this.redis, rows, entries, this.log, seenBefore)
  }

  close(): void {
    this.redis?.disconnect()
    this.redis = undefined
  }
}

/**
 * The gateway's side: one subscription to its reply channel, and the transactions waiting for their
 * decision. A waiter is registered before the XADD, so a reply can never arrive before it.
 */
export class ReplyListener {
  private readonly waiting = new Map<string, Set<Waiter>>()
  private subscriber: Redis | undefined

  constructor(
    private readonly connection: RedisConnection,
    readonly channel: string,
  ) {}

  async start(): Promise<void> {
    const subscriber = connectRedis(this.connection, {
      name: 'aether-gateway-replies',
      // ioredis subscribes again by itself after a reconnect.
      autoResubscribe: true,
    })
    this.subscriber = subscriber
    subscriber.on('message', (_channel: string, message: string) => this.deliver(message))
    await subscriber.subscribe(this.channel)
  }

  /**
   * Resolves with the worker's reply (the stored decision, or why nothing was stored), or undefined when
   * none came within `ms` (or it was cancelled). `wrote` names the entry the request wrote, once the XADD
   * has said: from then on a reply about another entry of the same txn_id (another request's version,
   * on another partition) is not taken for its own.
   */
  wait(
    txnId: string,
    ms: number,
  ): { promise: Promise<WorkerReply | undefined>; cancel: () => void; wrote: (entry: string) => void } {
    let cancel = () => {}
    const waiter: Waiter = { done: () => {} }
    const promise = new Promise<WorkerReply | undefined>((resolve) => {
      // Two requests of one txn_id may wait at once (a client's retry): each has its own waiter.
      let waiters = this.waiting.get(txnId)
      if (waiters === undefined) this.waiting.set(txnId, (waiters = new Set()))
      waiter.done = (reply: WorkerReply | undefined) => {
        clearTimeout(timer)
        waiters.delete(waiter)
        if (waiters.size === 0 && this.waiting.get(txnId) === waiters) this.waiting.delete(txnId)
        resolve(reply)
      }
      const timer = setTimeout(() => waiter.done(undefined), ms)
      waiters.add(waiter)
      cancel = () => waiter.done(undefined)
    })
    return { promise, cancel, wrote: (entry) => void (waiter.entry = entry) }
  }

  private deliver(message: string) {
    let replies: WorkerReply[]
    try {
      replies = JSON.parse(message) as WorkerReply[]
    } catch {
      return
    }
    if (!Array.isArray(replies)) return
    for (const reply of replies)
      if (typeof reply?.txn_id === 'string')
        for (const waiter of [...(this.waiting.get(reply.txn_id) ?? [])])
          if (waiter.entry === undefined || reply.entry === undefined || waiter.entry === reply.entry)
            waiter.done(reply)
  }

  async stop(): Promise<void> {
    this.subscriber?.disconnect()
    this.subscriber = undefined
  }
}
