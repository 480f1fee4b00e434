import type { Redis } from 'ioredis'
import { sql, type Kysely } from 'kysely'
import { Transaction, type Reason, type Score } from '../../shared/transaction'
import { emptyUserState, scoreTransaction, type UserState } from '../scoring'
import {
  API_KEY_FIELD,
  entryName,
  isSeenReply,
  REPLY_FIELD,
  type DecisionReply,
  type ReplyListener,
  type WorkerReply,
} from './decision-replies'
import { partitionOf, partitionStream, type StreamLayout } from './partitioning'
import type { RedisStreams } from './redis-stream'
import type { RulesSource } from './rules-source'
import { RowRejectedError, type PipelineStore, type StoredVersion } from './sink'
import { decodeTransaction, DEFAULT_TIME_WINDOW, encodeTransaction, type TimeWindow } from './wire'
import { CONTENT_FIELDS, contentFingerprint } from './transaction-content'

/**
 * What the Decision API does, apart from HTTP: validate a transaction as the worker will, write it to
 * its user's partition stream once per txn_id, and answer with the decision the worker stored, or past
 * the budget with a provisional one from the same scorer over the latest stored user state (written at
 * the workers' state checkpoints, 0017: up to one interval behind what the worker holds).
 *
 * Once per txn_id across any number of gateways: a claim key (`<prefix>gw:txn:{pN}:<txn_id>`, holding
 * the content's fingerprint) is set and the entry added in one Redis script, so a retry, a second gateway
 * or a crash between the two can neither add a second entry nor lose the first. The claim lives until
 * the worker has surely stored it (CLAIM_TTL_MS); after that the worker tells a duplicate: its reply
 * says the entry was stored before (the original decision is read then) or conflicts (409).
 *
 * A single transaction's fast path is one Redis script and the worker's reply: nothing read from the
 * store before writing. The store is read only on the slow paths (past the budget, a duplicate, a
 * lookup), so they never hold up the fast one.
 */

export interface FieldError {
  field: string
  message: string
}

export type Validated = { ok: true; txn: Transaction } | { ok: false; errors: FieldError[] }

export interface DecisionResult {
  txn_id: string
  decision: Score['decision']
  score: number
  reasons: Reason[]
  rules_version: number
  final: boolean
  latency_ms: number
  duplicate?: true
}

export type SubmitOutcome =
  { kind: 'decided'; result: DecisionResult } | { kind: 'conflict'; txnId: string; fields: string[] }

export type BatchItemStatus =
  | { index: number; txn_id: string; status: 'accepted' | 'duplicate' }
  | { index: number; txn_id: string; status: 'conflict'; fields: string[] }
  | { index: number; txn_id?: string; status: 'invalid'; errors: FieldError[] }

/** A batch's answer: a status per item, and how many of each. */
export interface BatchOutcome {
  items: BatchItemStatus[]
  accepted: number
  duplicates: number
  conflicts: number
  invalid: number
}

function batchOutcome(items: BatchItemStatus[]): BatchOutcome {
  const count = (status: BatchItemStatus['status']) => items.filter((item) => item.status === status).length
  return {
    items,
    accepted: count('accepted'),
    duplicates: count('duplicate'),
    conflicts: count('conflict'),
    invalid: count('invalid'),
  }
}

export type LookupResult =
  | { status: 'stored'; decision: Omit<DecisionResult, 'latency_ms'> }
  | { status: 'pending'; txn_id: string }
  | { status: 'not_found' }

/** How long a claim outlives its XADD: far beyond any lag the backpressure bound lets build up. */
export const CLAIM_TTL_MS = 10 * 60 * 1000

const CLAIM_AND_ADD = `
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))}
`

interface ClaimingRedis extends Redis {
  claimAndAdd(claim: string, stream: string, ...args: string[]): Promise<[0 | 1, string]>
}

/** The fields in which two fingerprints (contentFingerprint) differ. */
function differingFields(a: string, b: string): string[] {
  const left = JSON.parse(a) as unknown[]
  const right = JSON.parse(b) as unknown[]
  return CONTENT_FIELDS.filter((_, index) => left[index] !== right[index])
}

/** "amount: must be greater than 0" → the field and its message. */
function splitReason(reason: string): FieldError {
  const match = /^([a-z_]+): (.*)$/s.exec(reason)
  return match === null
    ? { field: '(entry)', message: reason }
    : { field: match[1] as string, message: match[2] as string }
}

export interface DecisionServiceOptions {
  redis: Redis
  /** The stream layer, for the team-wide view of the partitions (backlog, owners). */
  streams: Pick<RedisStreams, 'partitionInfo'>
  layout: StreamLayout
  /** The store as the gateway's login sees it (reads transactions, scores, user states). */
  db: Kysely<unknown>
  pipelineStore: PipelineStore
  rules: RulesSource
  replies: ReplyListener
  budgetMs: number
  timeWindow?: TimeWindow
}

type StoredDecision = Omit<DecisionResult, 'latency_ms'>

interface SlowAnswer {
  version: { differs: string[] } | undefined
  stored: StoredDecision | undefined
  state: UserState | undefined
  config: Awaited<ReturnType<RulesSource['current']>>
}

/**
 * The stored versions of these transactions. Where the store refuses one of them (a value it cannot take
 * that validation let through), each is read alone, so the others are answered and only that one is
 * refused (`refused`): one bad transaction must not fail the good ones read with it.
 */
export async function versionsApart<T extends { txn: Transaction }>(
  store: Pick<PipelineStore, 'storedVersions'>,
  items: readonly T[],
  refused: (item: T, error: RowRejectedError) => void,
): Promise<Map<number, StoredVersion>> {
  try {
    return await store.storedVersions(items.map((item) => item.txn))
  } catch (error) {
    if (!(error instanceof RowRejectedError) || items.length === 1) throw error
  }
  const versions = new Map<number, StoredVersion>()
  for (const [position, item] of items.entries()) {
    try {
      const version = (await store.storedVersions([item.txn])).get(0)
      if (version !== undefined) versions.set(position, version)
    } catch (error) {
      if (!(error instanceof RowRejectedError)) throw error
      refused(item, error)
    }
  }
  return versions
}

interface SlowRead {
  txn: Transaction
  resolve: (answer: SlowAnswer) => void
  reject: (error: unknown) => void
  /** Answered otherwise before its batch was read: skipped. */
  cancelled: boolean
}

/** Requests past their budget read together, at most this many at a time. */
const SLOW_BATCH = 500
/** How long a request past its budget still hears its reply: bounded by its read, which ends the wait. */
const LATE_REPLY_MS = 60_000

export class DecisionService {
  private readonly redis: ClaimingRedis
  readonly layout: StreamLayout
  private readonly slowQueue: SlowRead[] = []
  private slowRunning = false

  constructor(private readonly options: DecisionServiceOptions) {
    options.redis.defineCommand('claimAndAdd', { numberOfKeys: 2, lua: CLAIM_AND_ADD })
    this.redis = options.redis as ClaimingRedis
    this.layout = options.layout
  }

  /** The stream's own rules (zod, then the worker's decoder with its time window): never a disagreement. */
  validate(body: unknown): Validated {
    const parsed = Transaction.safeParse(body)
    if (!parsed.success)
      return {
        ok: false,
        errors: parsed.error.issues.slice(0, 20).map((issue) => ({
          field: issue.path.map(String).join('.') || '(body)',
          message: issue.message,
        })),
      }
    const decoded = decodeTransaction(
      encodeTransaction(parsed.data),
      this.options.timeWindow ?? DEFAULT_TIME_WINDOW,
    )
    if (!decoded.ok) return { ok: false, errors: [splitReason(decoded.reason)] }
    const txn = decoded.txn
    txn.txn_id = txn.txn_id.toLowerCase()
    return { ok: true, txn }
  }

  private claimKey(partition: number, txnId: string) {
    return `${this.layout.prefix}gw:txn:{p${partition}}:${txnId}`
  }

  private claimArgs(
    txn: Transaction,
    apiKeyId: string,
    reply: string | undefined,
  ): [string, string, ...string[]] {
    const partition = partitionOf(txn.user_id, this.layout.partitions)
    const fields = encodeTransaction(txn)
    fields.push(API_KEY_FIELD, apiKeyId)
    if (reply !== undefined) fields.push(REPLY_FIELD, reply)
    return [
      this.claimKey(partition, txn.txn_id),
      partitionStream(this.layout, partition),
      contentFingerprint(txn),
      String(CLAIM_TTL_MS),
      ...fields,
    ]
  }

  /** One transaction: written once, answered with the stored decision or, past the budget, a provisional one. */
  async submit(txn: Transaction, apiKeyId: string, startedAt = performance.now()): Promise<SubmitOutcome> {
    // Registered before the XADD, so the reply can never come first.
    const waiter = this.options.replies.wait(
      txn.txn_id,
      Math.max(0, this.options.budgetMs - (performance.now() - startedAt)),
    )
    let claimed: [0 | 1, string]
    try {
      claimed = await this.redis.claimAndAdd(...this.claimArgs(txn, apiKeyId, this.options.replies.channel))
    } catch (error) {
      waiter.cancel()
      throw error
    }
    if (claimed[0] === 0) {
      // Another request of this txn_id wrote it within the claim's life.
      waiter.cancel()
      const fields = differingFields(contentFingerprint(txn), claimed[1])
      if (fields.length > 0) return { kind: 'conflict', txnId: txn.txn_id, fields }
      return { kind: 'decided', result: await this.inFlightDuplicate(txn, startedAt) }
    }
    waiter.wrote(entryName(partitionOf(txn.user_id, this.layout.partitions), claimed[1]))
    const reply = await waiter.promise
    return reply === undefined ? this.pastBudget(txn, startedAt, true) : this.fromReply(txn, reply, startedAt)
  }

  /** The worker's reply: the decision it stored, or why it stored none. */
  private async fromReply(txn: Transaction, reply: WorkerReply, startedAt: number): Promise<SubmitOutcome> {
    if (!isSeenReply(reply)) return { kind: 'decided', result: this.result(reply, true, startedAt) }
    // The worker stored no row for it: stored before (claim expired), or another version was.
    if (reply.seen === 'conflict') return { kind: 'conflict', txnId: txn.txn_id, fields: reply.fields }
    const stored = await this.storedDecision(txn.txn_id)
    if (stored === undefined) return this.pastBudget(txn, startedAt, false)
    return {
      kind: 'decided',
      result: {
        ...stored,
        latency_ms: elapsed(startedAt),
        ...(reply.seen === 'duplicate' ? { duplicate: true as const } : {}),
      },
    }
  }

  /**
   * No reply within the budget. A version stored already (written long ago, or ours just now) answers:
   * other content is a conflict, the same is the stored decision. Else the provisional decision. Read
   * with every other request past its budget at that moment (slowRead).
   * A late worker's reply may still come while the read waits for its turn: the first of the two
   * answers, and a read not started yet is dropped. Else a worker behind by more than the budget had
   * every request also read the store, which slowed the worker further (bench:gateway at 2,000 req/s:
   * once past the budget, the gateway stayed past it, seconds behind).
   */
  private async pastBudget(
    txn: Transaction,
    startedAt: number,
    replyMayCome: boolean,
  ): Promise<SubmitOutcome> {
    const late = replyMayCome ? this.options.replies.wait(txn.txn_id, LATE_REPLY_MS) : undefined
    const slow = this.slowRead(txn)
    const first = await new Promise<{ reply: WorkerReply } | { read: SlowAnswer }>((resolve, reject) => {
      slow.promise.then((read) => resolve({ read }), reject)
      void late?.promise.then((reply) => reply !== undefined && resolve({ reply }))
    }).finally(() => {
      late?.cancel()
      slow.cancel()
    })
    if ('reply' in first) return this.fromReply(txn, first.reply, startedAt)
    const read = first.read
    const version = read.version
    if (version !== undefined && version.differs.length > 0)
      return { kind: 'conflict', txnId: txn.txn_id, fields: version.differs }
    if (version !== undefined && read.stored !== undefined)
      return { kind: 'decided', result: { ...read.stored, latency_ms: elapsed(startedAt) } }
    return { kind: 'decided', result: this.provisionalFrom(txn, read, startedAt) }
  }

  /** Many transactions, no waiting: each written once, with a status per item. */
  async submitBatch(bodies: readonly unknown[], apiKeyId: string): Promise<BatchOutcome> {
    const statuses: BatchItemStatus[] = []
    const valid: { index: number; txn: Transaction }[] = []
    bodies.forEach((body, index) => {
      const checked = this.validate(body)
      if (checked.ok) valid.push({ index, txn: checked.txn })
      else {
        const txnId = (body as { txn_id?: unknown } | null)?.txn_id
        statuses[index] = {
          index,
          ...(typeof txnId === 'string' && txnId.length <= 64 ? { txn_id: txnId } : {}),
          status: 'invalid',
          errors: checked.errors,
        }
      }
    })
    const stored = await versionsApart(this.options.pipelineStore, valid, (item, error) => {
      statuses[item.index] = {
        index: item.index,
        txn_id: item.txn.txn_id,
        status: 'invalid',
        errors: [{ field: '', message: error.message }],
      }
    })
    const fresh: { index: number; txn: Transaction }[] = []
    valid.forEach((item, position) => {
      if (statuses[item.index] !== undefined) return
      const version = stored.get(position)
      if (version === undefined) fresh.push(item)
      else
        statuses[item.index] =
          version.differs.length > 0
            ? { index: item.index, txn_id: item.txn.txn_id, status: 'conflict', fields: version.differs }
            : { index: item.index, txn_id: item.txn.txn_id, status: 'duplicate' }
    })
    if (fresh.length > 0) {
      const pipeline = this.redis.pipeline() as unknown as {
        claimAndAdd(...args: string[]): void
        exec(): Promise<[Error | null, [0 | 1, string]][] | null>
      }
      for (const { txn } of fresh) pipeline.claimAndAdd(...this.claimArgs(txn, apiKeyId, undefined))
      const results = (await pipeline.exec()) ?? []
      fresh.forEach(({ index, txn }, position) => {
        const [error, claimed] = results[position] ?? [new Error('no reply from Redis'), [0, '']]
        if (error !== null) throw error
        const fields = claimed[0] === 1 ? [] : differingFields(contentFingerprint(txn), claimed[1])
        statuses[index] =
          claimed[0] === 1
            ? { index, txn_id: txn.txn_id, status: 'accepted' }
            : fields.length > 0
              ? { index, txn_id: txn.txn_id, status: 'conflict', fields }
              : { index, txn_id: txn.txn_id, status: 'duplicate' }
      })
    }
    return batchOutcome(statuses)
  }

  /** The stored decision, or pending while a gateway's claim says it is on its way. */
  async lookup(txnId: string): Promise<LookupResult> {
    const id = txnId.toLowerCase()
    const stored = await this.storedDecision(id)
    if (stored !== undefined) return { status: 'stored', decision: stored }
    const pipeline = this.redis.pipeline()
    for (let partition = 0; partition < this.layout.partitions; partition++)
      pipeline.exists(this.claimKey(partition, id))
    const found = ((await pipeline.exec()) ?? []).some(([, count]) => Number(count) > 0)
    return found ? { status: 'pending', txn_id: id } : { status: 'not_found' }
  }

  /**
   * Entries not stored yet over every partition: never delivered to the workers (lag) plus delivered
   * and not acknowledged (pending). A stream without the group yet counts whole.
   */
  async backlog(): Promise<number> {
    const { partitions } = await this.options.streams.partitionInfo()
    return partitions.reduce((total, info) => total + (info.lag ?? 0) + info.pending, 0)
  }

  /** How many partitions a worker holds the lease of: decisions come back final only from those. */
  async ownedPartitions(): Promise<{ owned: number; total: number }> {
    const { partitions } = await this.options.streams.partitionInfo()
    return { owned: partitions.filter((info) => info.owner !== null).length, total: this.layout.partitions }
  }

  private async storedDecision(txnId: string): Promise<StoredDecision | undefined> {
    return (await this.storedDecisions([txnId])).get(txnId)
  }

  private async storedDecisions(txnIds: readonly string[]): Promise<Map<string, StoredDecision>> {
    const { rows } = await sql<{
      txn_id: string
      score: number | null
      decision: Score['decision'] | null
      reasons: Reason[] | null
      rules_version: number | null
    }>`SELECT t.txn_id::text AS txn_id, t.score, t.decision, t.reasons, t.rules_version
         FROM transactions t
        WHERE t.txn_id = ANY(${txnIds}::uuid[])`.execute(this.options.db)
    const decisions = new Map<string, StoredDecision>()
    for (const row of rows)
      if (row.decision !== null)
        decisions.set(row.txn_id, {
          txn_id: row.txn_id,
          decision: row.decision,
          score: Number(row.score),
          reasons: row.reasons ?? [],
          rules_version: Number(row.rules_version),
          final: true,
        })
    return decisions
  }

  /**
   * What answering past the budget needs, read for every request waiting for it at once: one query per
   * kind for all of them (a stored version, a stored decision, the user's state), one batch at a time,
   * so under load the slow path costs a few queries per batch, never a few per request.
   */
  private slowRead(txn: Transaction): { promise: Promise<SlowAnswer>; cancel: () => void } {
    const read: SlowRead = { txn, resolve: () => {}, reject: () => {}, cancelled: false }
    const promise = new Promise<SlowAnswer>((resolve, reject) => {
      Object.assign(read, { resolve, reject })
      this.slowQueue.push(read)
      if (this.slowRunning) return
      this.slowRunning = true
      setImmediate(() => void this.flushSlow())
    })
    return { promise, cancel: () => void (read.cancelled = true) }
  }

  private async flushSlow(): Promise<void> {
    while (this.slowQueue.length > 0) {
      const reads = this.slowQueue.splice(0, SLOW_BATCH).filter((read) => !read.cancelled)
      if (reads.length === 0) continue
      const txns = reads.map((read) => read.txn)
      const refused = new Set<SlowRead>()
      try {
        const [versions, stored, states, config] = await Promise.all([
          // One a store refuses fails alone, not the other requests read with it.
          versionsApart(this.options.pipelineStore, reads, (read, error) => {
            refused.add(read)
            read.reject(error)
          }),
          this.storedDecisions([...new Set(txns.map((txn) => txn.txn_id))]),
          this.options.pipelineStore.loadStates([...new Set(txns.map((txn) => txn.user_id))]),
          this.options.rules.current(),
        ])
        reads.forEach((read, index) =>
          refused.has(read)
            ? undefined
            : read.resolve({
                version: versions.get(index),
                stored: stored.get(read.txn.txn_id),
                state: states.get(read.txn.user_id),
                config,
              }),
        )
      } catch (error) {
        for (const read of reads) if (!refused.has(read)) read.reject(error)
      }
    }
    this.slowRunning = false
  }

  /**
   * A second request for a transaction on its way (claimed, not stored yet): its decision is read from
   * the store until the budget runs out (the reply goes to the gateway that wrote it), then provisional.
   */
  private async inFlightDuplicate(txn: Transaction, startedAt: number): Promise<DecisionResult> {
    for (;;) {
      const stored = await this.storedDecision(txn.txn_id)
      if (stored !== undefined) return { ...stored, latency_ms: elapsed(startedAt), duplicate: true }
      if (performance.now() - startedAt >= this.options.budgetMs) break
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    return { ...(await this.provisional(txn, startedAt)), duplicate: true }
  }

  /** The same scorer over the latest stored user state and the rules and lists in force. */
  private async provisional(txn: Transaction, startedAt: number): Promise<DecisionResult> {
    return this.provisionalFrom(txn, await this.slowRead(txn).promise, startedAt)
  }

  private provisionalFrom(txn: Transaction, read: SlowAnswer, startedAt: number): DecisionResult {
    const { rules, lists } = read.config
    const { score } = scoreTransaction(txn, read.state ?? emptyUserState(), rules, lists)
    return this.result({ txn_id: txn.txn_id, ...score }, false, startedAt)
  }

  private result(score: DecisionReply, final: boolean, startedAt: number): DecisionResult {
    return {
      txn_id: score.txn_id,
      decision: score.decision,
      score: score.score,
      reasons: score.reasons,
      rules_version: score.rules_version,
      final,
      latency_ms: elapsed(startedAt),
    }
  }
}

const elapsed = (startedAt: number) => Math.round((performance.now() - startedAt) * 10) / 10
