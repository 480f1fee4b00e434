import { sql, type QueryExecutorProvider } from 'kysely'
import type { Reason } from '../../shared/transaction'
import type { Store } from '../store/store'

/**
 * The review/block decisions (the alerts table) in id order, for the Decision API's event stream, with
 * nothing missed on resume: alert ids are taken when a worker inserts, but workers commit in any order,
 * so an alert with a lower id may become visible after a higher one. An id is released to readers only
 * once it is final: the alerts sequence's position is read, then a transaction id is taken; once every
 * transaction below that id has ended (the snapshot's xmin has passed it), every alert id up to the
 * position is committed or never will be. (A worker writes its transactions before their alerts, so it
 * holds a transaction id before it takes an alert id.) A reader resuming after id N then misses nothing.
 * Transaction ids are the cluster's, so any long transaction (an idle session left in one) would hold
 * the feed up: a mark is released after `maxHoldMs` anyway, as a worker's batch commits in far less.
 * NOTIFY on aether_alerts is only a hint to look again; the store is always read.
 */

export const ALERTS_CHANNEL = 'aether_alerts'

export interface DecisionEvent {
  id: number
  txn_id: string
  decision: 'review' | 'block'
  score: number
  reasons: Reason[]
  case_id: number | null
  created_at: string
}

interface Mark {
  /** A transaction id taken after the alerts sequence was read at `lastId`. */
  xid: bigint
  lastId: number
  at: number
}

/** One per gateway: finds the highest final id, and tells the readers when it moves. */
export class DecisionFeed {
  private safeId = 0
  private marks: Mark[] = []
  private readonly listeners = new Set<() => void>()
  private timer: NodeJS.Timeout | undefined
  private stopListening: (() => Promise<void>) | undefined
  private checking: Promise<void> | undefined
  private stopped = false

  constructor(
    private readonly db: QueryExecutorProvider,
    private readonly pollMs = 1000,
    private readonly maxHoldMs = 10_000,
  ) {}

  async start(listen?: Store['listen']): Promise<void> {
    await this.check()
    if (listen !== undefined)
      this.stopListening = await listen(
        [ALERTS_CHANNEL],
        () => void this.check(),
        () => void this.check(),
      ).catch(() => undefined)
    this.schedule(this.pollMs)
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.stopListening?.()
    await this.checking
  }

  /** Ids up to this are final: every alert at or below it that will ever exist is stored. */
  get finalId(): number {
    return this.safeId
  }

  /** Calls back whenever finalId moves; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** The final alerts after `afterId`, oldest first. */
  async read(afterId: number, limit = 500): Promise<DecisionEvent[]> {
    if (afterId >= this.safeId) return []
    const { rows } = await sql<DecisionEvent & { created_at: Date }>`
      SELECT id, txn_id::text AS txn_id, decision, score, reasons, case_id, created_at
        FROM alerts WHERE id > ${afterId} AND id <= ${this.safeId} ORDER BY id LIMIT ${limit}`.execute(
      this.db,
    )
    return rows.map((row) => ({
      ...row,
      id: Number(row.id),
      score: Number(row.score),
      case_id: row.case_id === null ? null : Number(row.case_id),
      created_at: new Date(row.created_at).toISOString(),
    }))
  }

  private schedule(ms: number) {
    clearTimeout(this.timer)
    if (this.stopped) return
    this.timer = setTimeout(() => void this.check(), ms)
    this.timer.unref()
  }

  private check(): Promise<void> {
    this.checking ??= this.advance().finally(() => {
      this.checking = undefined
      // Marks still waiting for their transactions: look again soon, not at the next poll.
      this.schedule(this.marks.length > 0 ? 20 : this.pollMs)
    })
    return this.checking
  }

  private async advance(): Promise<void> {
    try {
      const {
        rows: [seen],
      } = await sql<{ xmin: string; last_id: string | number | null }>`
        SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin,
               pg_sequence_last_value(pg_get_serial_sequence('public.alerts', 'id')) AS last_id`.execute(
        this.db,
      )
      if (seen === undefined) return
      const before = this.safeId
      const now = Date.now()
      const xmin = BigInt(seen.xmin)
      const final = (mark: Mark) => mark.xid < xmin || now - mark.at > this.maxHoldMs
      while (this.marks.length > 0 && final(this.marks[0] as Mark))
        this.safeId = Math.max(this.safeId, (this.marks.shift() as Mark).lastId)
      if (this.safeId !== before) for (const listener of this.listeners) listener()
      // New ids were handed out: a mark for them, with a transaction id taken after the read, so
      // every transaction that took one of them (its own id taken first) has a lower transaction id.
      const lastId = Number(seen.last_id ?? 0)
      if (lastId > Math.max(this.safeId, this.marks.at(-1)?.lastId ?? 0)) {
        const {
          rows: [taken],
        } = await sql<{ xid: string }>`SELECT pg_current_xact_id()::text AS xid`.execute(this.db)
        if (taken !== undefined) this.marks.push({ xid: BigInt(taken.xid), lastId, at: Date.now() })
      }
    } catch {
      // The store is away: the next poll tries again.
    }
  }
}

/**
 * One client of the event stream: every final event after `afterId`, in id order, as Server-Sent Events
 * (`id:` is the alert id a client resumes from with Last-Event-ID), then each new one as it becomes
 * final; a comment line every `heartbeatMs` keeps proxies from closing an idle connection. Returns the
 * stop, which the caller runs when the client goes away. `write` says whether the connection takes
 * more now (a socket's write()); when it does not, the next page waits for `drained`: a client that
 * reads slowly holds the feed back instead of the server buffering every event for it.
 */
export function followFeed(
  feed: Pick<DecisionFeed, 'subscribe' | 'read'>,
  afterId: number,
  write: (chunk: string) => boolean | void,
  log?: (line: string) => void,
  heartbeatMs = 15_000,
  drained: () => Promise<void> = async () => {},
): () => void {
  let last = afterId
  let pumping = false
  let again = false
  let ended = false
  const pump = async () => {
    if (pumping) {
      again = true
      return
    }
    pumping = true
    try {
      do {
        again = false
        for (;;) {
          const events = await feed.read(last)
          if (events.length === 0 || ended) break
          let room = true
          for (const event of events) {
            room = write(`id: ${event.id}\nevent: decision\ndata: ${JSON.stringify(event)}\n\n`) !== false
            last = event.id
          }
          if (!room) await drained()
        }
      } while (again && !ended)
    } catch (error) {
      log?.(`decisions feed: ${String(error)}`)
    } finally {
      pumping = false
    }
  }
  write('retry: 1000\n\n')
  const heartbeat = setInterval(() => write(': keep-alive\n\n'), heartbeatMs)
  const unsubscribe = feed.subscribe(() => void pump())
  void pump()
  return () => {
    if (ended) return
    ended = true
    clearInterval(heartbeat)
    unsubscribe()
  }
}
