import { EventEmitter, on } from 'node:events'
import type { LiveAlert, LiveEvent } from '../../shared/triage-contract'
import { Reason } from '../../shared/transaction'
import type { Store } from '../store/store'
import { iso, triageDb, type TriageDb } from './db'
import { deliverWebhooks } from './webhook'

/**
 * The live feed: one LISTEN per open store, shared by every subscriber (each renderer window, the webhook
 * notifier). The database sends alert ids on commit (trigger alerts_notify, one NOTIFY per batch); the
 * feed reads those rows and fans them out. It listens only while someone subscribes.
 */

const ALERTS_CHANNEL = 'aether_alerts'
const CASES_CHANNEL = 'aether_cases'
const MAX_IDS_PER_NOTIFY = 1000

export async function alertsByIds(db: TriageDb, ids: number[]): Promise<LiveAlert[]> {
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

  constructor(private readonly store: Store) {
    this.events.setMaxListeners(0)
  }

  private async onNotify(channel: string, payload: string) {
    if (channel === CASES_CHANNEL) {
      const caseId = Number(payload)
      if (Number.isSafeInteger(caseId) && caseId > 0) this.events.emit('event', { kind: 'case', caseId })
      return
    }
    const ids = payload
      .split(',')
      .map(Number)
      .filter((id) => Number.isSafeInteger(id) && id > 0)
      .slice(0, MAX_IDS_PER_NOTIFY)
    try {
      const db = triageDb(this.store)
      const alerts = await alertsByIds(db, ids)
      for (const alert of alerts) this.events.emit('event', alert)
      await deliverWebhooks(db, alerts)
    } catch (error) {
      console.error('[aether] could not handle notified alerts:', error)
    }
  }

  private acquire() {
    this.subscribers += 1
    this.stopListening ??= this.store.listen([ALERTS_CHANNEL, CASES_CHANNEL], (channel, payload) => {
      void this.onNotify(channel, payload)
    })
    return this.stopListening
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
