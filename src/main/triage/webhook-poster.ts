import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { Gauge, type Registry } from 'prom-client'
import { messageOf } from '../errors'
import type { Store } from '../store/store'
import type { StoreDb } from '../store/schema'
import { alertsByIds } from './live'
import { webhookText, webhookUrl } from './webhook'

/**
 * Posts the team webhook from the headless side: every `aether worker` runs one (a team's alerts are
 * made only by workers, so a poster runs wherever an alert can appear; gateways are optional and may
 * have no way out to the chat service). In Local mode the app, which is its own worker, runs the passes.
 *
 * The store holds the work (migration 0011): a delivery row per block alert, made with the alert. A pass
 * claims due rows with a lease (FOR UPDATE SKIP LOCKED: two posters never claim one row), posts each,
 * then marks it sent, or records the failure and when to try again (doubling from 1 s up to 5 min, or
 * the receiver's Retry-After). A poster that dies mid-delivery leaves its lease to expire (LEASE_MS, far
 * beyond the POST's timeout), and another poster takes the row. Exactly once, except when a poster dies
 * after the receiver took the POST and before the sent mark is written: then it is posted again, as no
 * Slack-compatible receiver can tell a repeat.
 */

export const LEASE_MS = 30_000
const POST_TIMEOUT_MS = 5000
const MAX_BACKOFF_MS = 5 * 60_000
const REFUSED_POLL_MS = 60_000
/** A scrape's read of the backlog gives up after this long (its gauges are then NaN). */
const READ_TIMEOUT_MS = 2000

export interface WebhookPosterOptions {
  db: StoreDb
  /** Who posts, for the lease (a worker id); made unique per poster. */
  holder: string
  leaseMs?: number
  /** How often due rows are looked for (retries, rows a dead poster left). */
  pollMs?: number
  /** How often a login that may not post looks again whether it may now (a minute). */
  refusedPollMs?: number
  /** Attempts before a delivery is given up (its error stays recorded). */
  maxAttempts?: number
  /** Delay before attempt n + 1 after n failed. */
  backoffMs?: (attempts: number) => number
  /** Alerts' NOTIFY: a pass at once instead of at the next poll. */
  listen?: Store['listen']
  log?: (line: string) => void
}

export const defaultBackoff = (attempts: number) => Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (attempts - 1))

interface Claimed {
  alert_id: string | number
  attempts: number
}

export class WebhookPoster {
  readonly holder: string
  private timer: NodeJS.Timeout | undefined
  private pass: Promise<number> | undefined
  private again = false
  private stopListening: (() => Promise<void>) | undefined
  private stopped = false
  /** The login may not post (not in the worker group, 0024): said once, then looked at every minute. */
  private refused = false

  constructor(private readonly options: WebhookPosterOptions) {
    this.holder = `${options.holder}/${randomBytes(4).toString('hex')}`
  }

  async start(): Promise<void> {
    if (this.options.listen !== undefined)
      this.stopListening = await this.options
        .listen(['aether_alerts'], () => this.wake())
        .catch(() => undefined)
    this.wake()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.stopListening?.()
    await this.pass?.catch(() => 0)
  }

  /**
   * The team's webhook backlog as /metrics shows it, read from the store at each scrape (the same
   * figures from every worker: alert on their max): posts waiting and the oldest's age, posts given up,
   * and whether this worker's login may post at all (AetherWebhookNotPosted in docs/ops). A read that
   * fails (a login outside the worker group may not read the deliveries) or is slow shows as NaN.
   */
  registerMetrics(registry: Registry): void {
    const registers = [registry]
    const mayNotPost: Gauge = new Gauge({
      name: 'aether_webhook_refused',
      help: "1 when this worker's login may not post the team webhook (not in the database's worker group).",
      registers,
      collect: () => {
        mayNotPost.set(this.refused ? 1 : 0)
      },
    })
    type Backlog = { waiting: number; oldest: number; given_up: number }
    let reading: Promise<Backlog | undefined> | undefined
    // One read per scrape for the three gauges, never holding the scrape up past READ_TIMEOUT_MS; the
    // given-up rows (kept for their errors) are counted by the index alone, only waiting ones joined.
    const read = async (): Promise<Backlog | undefined> => {
      const { rows } = await sql<Backlog>`
        SELECT (SELECT count(*)::int FROM webhook_deliveries
                 WHERE sent_at IS NULL AND next_attempt_at = 'infinity') AS given_up,
               count(*)::int AS waiting,
               coalesce(extract(epoch FROM now() - min(a.created_at)), 0)::float8 AS oldest
          FROM webhook_deliveries d JOIN alerts a ON a.id = d.alert_id
         WHERE d.sent_at IS NULL AND d.next_attempt_at < 'infinity'`.execute(this.options.db)
      return rows[0]
    }
    const backlog = () => {
      if (reading !== undefined) return reading
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), READ_TIMEOUT_MS)
        timer.unref()
      })
      reading = Promise.race([read().catch(() => undefined), late]).finally(() => {
        clearTimeout(timer)
        setTimeout(() => (reading = undefined), 1000).unref()
      })
      return reading
    }
    const gauge = (name: string, help: string, figure: keyof Backlog) => {
      const made: Gauge = new Gauge({
        name,
        help,
        registers,
        collect: async () => {
          // Not read (refused, or too slow): NaN, never a 0 that would say nothing waits.
          const figures = await backlog()
          made.set(figures === undefined ? Number.NaN : Number(figures[figure]))
        },
      })
    }
    gauge(
      'aether_webhook_waiting',
      'Block alerts waiting to be posted to the team webhook (retries included).',
      'waiting',
    )
    gauge(
      'aether_webhook_oldest_waiting_seconds',
      'Age of the oldest block alert waiting to be posted to the team webhook (0 when none waits).',
      'oldest',
    )
    gauge('aether_webhook_given_up', 'Block alerts whose post to the team webhook was given up.', 'given_up')
  }

  /** A pass now (or right after the one running). */
  private wake() {
    if (this.stopped) return
    if (this.pass !== undefined) {
      this.again = true
      return
    }
    clearTimeout(this.timer)
    this.pass = this.deliverDue()
      .then((posted) => {
        if (this.refused) this.options.log?.('team webhook: this login may post it now')
        this.refused = false
        return posted
      })
      .catch(async (error: unknown) => {
        if ((error as { code?: unknown }).code !== '42501') {
          this.options.log?.(`team webhook: ${messageOf(error)}`)
          return 0
        }
        if (!this.refused) this.options.log?.(await this.refusal(error))
        this.refused = true
        return 0
      })
      .finally(() => {
        this.pass = undefined
        if (this.stopped) return
        if (this.again) {
          this.again = false
          this.wake()
        } else {
          this.timer = setTimeout(
            () => this.wake(),
            this.refused ? (this.options.refusedPollMs ?? REFUSED_POLL_MS) : (this.options.pollMs ?? 1000),
          )
          this.timer.unref()
        }
      })
  }

  /** Claims what is due, posts it, records each outcome; returns how many were posted. */
  async deliverDue(limit = 20): Promise<number> {
    const { db } = this.options
    const leaseMs = this.options.leaseMs ?? LEASE_MS
    const { rows: claimed } = await sql<Claimed>`
      UPDATE webhook_deliveries d
         SET lease_holder = ${this.holder}, lease_until = now() + ${leaseMs} * interval '1 millisecond',
             attempts = d.attempts + 1
       WHERE d.alert_id IN (
         SELECT alert_id FROM webhook_deliveries
          WHERE sent_at IS NULL AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
          ORDER BY alert_id LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING d.alert_id, d.attempts`.execute(db)
    if (claimed.length === 0) return 0
    const attempts = new Map(claimed.map((row) => [Number(row.alert_id), row.attempts]))
    const url = await webhookUrl(db)
    const alerts = await alertsByIds(db, [...attempts.keys()])
    let posted = 0
    for (const id of attempts.keys()) {
      const alert = alerts.find((candidate) => candidate.id === id)
      if (url === null || alert === undefined) {
        await this.giveUp(id, url === null ? 'no webhook was set when it was due' : 'the alert is gone')
        continue
      }
      // The lease renewed right before the POST: a slow receiver earlier in this pass never lets it
      // lapse while this row waits, and a row another poster took meanwhile is left to it.
      const { rows: held } = await sql`
        UPDATE webhook_deliveries SET lease_until = now() + ${leaseMs} * interval '1 millisecond'
         WHERE alert_id = ${id} AND lease_holder = ${this.holder} AND sent_at IS NULL RETURNING 1`.execute(db)
      if (held.length === 0) continue
      let status: number | null = null
      let error: string | null = null
      let retryAfterMs = 0
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ text: webhookText(alert) }),
          signal: AbortSignal.timeout(POST_TIMEOUT_MS),
        })
        status = response.status
        await response.arrayBuffer().catch(() => undefined)
        if (!response.ok) {
          error = `the webhook answered ${response.status} ${response.statusText}`
          const retryAfter = Number(response.headers.get('retry-after'))
          if (Number.isFinite(retryAfter) && retryAfter > 0) retryAfterMs = Math.min(retryAfter, 3600) * 1000
        }
      } catch (failure) {
        // Every analyst reads a delivery's error; the URL is a credential (fetch names it when it cannot parse it).
        error = messageOf(failure).split(url).join('<the team webhook URL>')
      }
      if (error === null) {
        await sql`
          UPDATE webhook_deliveries SET sent_at = now(), status = ${status}, error = NULL,
                 lease_holder = NULL, lease_until = NULL
           WHERE alert_id = ${id} AND lease_holder = ${this.holder}`.execute(db)
        posted++
        continue
      }
      const tries = attempts.get(id) ?? 1
      if (tries >= (this.options.maxAttempts ?? 10)) {
        await this.giveUp(id, `gave up after ${tries} attempts: ${error}`, status)
        continue
      }
      const delay = Math.max(retryAfterMs, (this.options.backoffMs ?? defaultBackoff)(tries))
      await sql`
        UPDATE webhook_deliveries SET status = ${status}, error = ${error}, lease_holder = NULL,
               lease_until = NULL, next_attempt_at = now() + ${delay} * interval '1 millisecond'
         WHERE alert_id = ${id} AND lease_holder = ${this.holder}`.execute(db)
      this.options.log?.(
        `team webhook: alert ${id} not delivered (attempt ${tries}), retried later: ${error}`,
      )
    }
    return posted
  }

  /** What the operator does about a login that may not post: the GRANT, with this database's names. */
  private async refusal(error: unknown): Promise<string> {
    const grant = await sql<{ grant: string }>`
      SELECT format('GRANT %I TO %I', aether_team_role('worker'), session_user) AS grant`
      .execute(this.options.db)
      .then(({ rows }) => rows[0]?.grant)
      .catch(() => undefined)
    return (
      `team webhook: this worker posts nothing, its login may not (${messageOf(error)}). ` +
      `Only the database's worker group posts the team webhook: as the database's owner, ` +
      `${grant ?? "GRANT <aether_team_role('worker')> TO <this login>"}`
    )
  }

  private async giveUp(id: number, error: string, status: number | null = null) {
    await sql`
      UPDATE webhook_deliveries SET status = ${status}, error = ${error}, lease_holder = NULL,
             lease_until = NULL, next_attempt_at = 'infinity'
       WHERE alert_id = ${id} AND lease_holder = ${this.holder}`.execute(this.options.db)
    this.options.log?.(`team webhook: alert ${id} not delivered: ${error}`)
  }
}
