import { EventEmitter, on } from 'node:events'
import { sql } from 'kysely'
import type { LiveAlert, LiveEvent } from '../../shared/triage-contract'
import { Reason } from '../../shared/transaction'
import type { Store } from '../store/store'
import type { StoreDb } from '../store/schema'
import { iso } from './db'
import { WebhookPoster } from './webhook-poster'

/**
 * The live feed: one LISTEN per open store, shared by every subscriber (each renderer window, the webhook
 * notifier). The database sends alert ids on commit (trigger alerts_notify, one NOTIFY per batch); the
 * feed reads those rows and fans them out. It listens only while someone subscribes.
 *
 * Any role that may connect can NOTIFY these channels with any payload, so a notification is only a hint
 * of where to look: what is shown is read back from the store, and only alerts stored after the feed
 * started listening and not shown yet pass. A forged payload naming old or unknown alerts shows nothing.
 */

const ALERTS_CHANNEL = 'aether_alerts'
const CASES_CHANNEL = 'aether_cases'
const MAX_IDS_PER_NOTIFY = 1000
/** How many delivered alert ids are remembered; older ones fall below the floor instead. */
const REMEMBERED_IDS = 20_000

/**
 * Which notified alert ids are new: above a floor, and not stored when listening began nor delivered
 * since. Ids are taken in one order and committed in another (two workers' batches), so the floor sits
 * REMEMBERED_IDS below the newest id stored when listening began and the ids stored above it start as
 * seen: an alert with a lower id that commits later still passes. Ids leave the remembered set in the
 * order they came, and the floor rises past them.
 */
export class NewAlertIds {
  private readonly delivered = new Set<number>()

  constructor(
    private floor: number,
    private readonly remembered = REMEMBERED_IDS,
    /** Ids above the floor that were stored already (ascending). */
    stored: readonly number[] = [],
  ) {
    for (const id of stored) if (id > floor) this.delivered.add(id)
    this.forget()
  }

  /** The ids of a payload that are worth reading: new, well-formed, at most MAX_IDS_PER_NOTIFY of them. */
  candidates(payload: string): number[] {
    const ids = new Set<number>()
    for (const part of payload.split(',')) {
      const id = Number(part)
      if (Number.isSafeInteger(id) && id > this.floor && !this.delivered.has(id)) ids.add(id)
      if (ids.size >= MAX_IDS_PER_NOTIFY) break
    }
    return [...ids]
  }

  /** Marks ids as delivered; false for one delivered already (two notifications raced for it). */
  claim(id: number): boolean {
    if (id <= this.floor || this.delivered.has(id)) return false
    this.delivered.add(id)
    this.forget()
    return true
  }

  private forget() {
    for (const oldest of this.delivered) {
      if (this.delivered.size <= this.remembered) break
      this.delivered.delete(oldest)
      this.floor = Math.max(this.floor, oldest)
    }
  }
}

export async function alertsByIds(db: StoreDb, ids: number[]): Promise<LiveAlert[]> {
  if (ids.length === 0) return []
  const rows = await db
    .selectFrom('alerts')
    .select([
      'id',
      'txn_id',
      'case_id',
      'user_id',
      'amount',
      'ts',
      'score',
      'decision',
      'reasons',
      'created_at',
    ])
    .where('id', 'in', ids)
    .orderBy('id')
    .execute()
  return rows.map((row) => ({
    kind: 'alert',
    id: row.id,
    txnId: row.txn_id,
    caseId: row.case_id,
    userId: row.user_id ?? '',
    amount: row.amount ?? '0',
    ts: iso(row.ts ?? row.created_at),
    score: row.score,
    decision: row.decision === 'block' ? 'block' : 'review',
    reasons: Reason.array().catch([]).parse(row.reasons),
  }))
}

class LiveFeed {
  private readonly events = new EventEmitter()
  private subscribers = 0
  private stopListening: Promise<() => Promise<void>> | undefined
  private fresh: NewAlertIds | undefined
  private webhooks: WebhookPoster | undefined

  constructor(private readonly store: Store) {
    this.events.setMaxListeners(0)
  }

  private async onNotify(channel: string, payload: string) {
    if (channel === CASES_CHANNEL) {
      const caseId = Number(payload)
      if (Number.isSafeInteger(caseId) && caseId > 0) this.events.emit('event', { kind: 'case', caseId })
      return
    }
    const fresh = this.fresh
    if (fresh === undefined) return
    try {
      const db = this.store.db
      const alerts = (await alertsByIds(db, fresh.candidates(payload))).filter((alert) =>
        fresh.claim(alert.id),
      )
      for (const alert of alerts) this.events.emit('event', alert)
      // Local mode: this app is the worker, so it posts the webhook (a team's workers post theirs).
      if (this.store.engine === 'pglite' && alerts.some((alert) => alert.decision === 'block'))
        await (this.webhooks ??= new WebhookPoster({ db, holder: 'workstation' })).deliverDue()
    } catch (error) {
      console.error('[aether] could not handle notified alerts:', error)
    }
  }

  private acquire() {
    this.subscribers += 1
    this.stopListening ??= this.startListening()
    return this.stopListening
  }

  /**
   * What is stored is read before LISTEN, so an alert committed in between is new and still shown: the
   * ids of the last REMEMBERED_IDS, in one statement (one snapshot) with the floor below them.
   */
  private async startListening() {
    const { rows } = await sql<{ id: string | number; floor: string | number }>`
      SELECT a.id, f.floor FROM (SELECT coalesce(max(id), 0) - ${REMEMBERED_IDS} AS floor FROM alerts) f
        LEFT JOIN alerts a ON a.id > f.floor
       ORDER BY a.id`.execute(this.store.db)
    const floor = Number(rows[0]?.floor ?? 0)
    const stored = rows.flatMap((row) => (row.id === null ? [] : [Number(row.id)]))
    this.fresh = new NewAlertIds(Math.max(0, floor), REMEMBERED_IDS, stored)
    return this.store.listen([ALERTS_CHANNEL, CASES_CHANNEL], (channel, payload) => {
      void this.onNotify(channel, payload)
    })
  }

  private async release() {
    this.subscribers -= 1
    if (this.subscribers > 0 || this.stopListening === undefined) return
    const stopping = this.stopListening
    this.stopListening = undefined
    feeds.delete(this.store)
    await (
      await stopping.catch(() => async () => {})
    )()
  }

  /** Every live event from now until the signal aborts. */
  async *follow(signal?: AbortSignal): AsyncGenerator<LiveEvent> {
    const events = on(this.events, 'event', signal ? { signal } : {})
    try {
      await this.acquire()
      yield { kind: 'listening' }
      for await (const [event] of events) yield event as LiveEvent
    } catch (error) {
      if (!(signal?.aborted ?? false)) throw error
    } finally {
      await this.release()
    }
  }
}

const feeds = new WeakMap<Store, LiveFeed>()

export function liveFeed(store: Store): LiveFeed {
  let feed = feeds.get(store)
  if (feed === undefined) {
    feed = new LiveFeed(store)
    feeds.set(store, feed)
  }
  return feed
}
