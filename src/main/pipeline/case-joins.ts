import type pg from 'pg'

/** How often a worker joins the alerts that waited for their case. */
export const CASE_JOIN_EVERY_MS = 5000
/** Users whose waiting alerts a call joins at most, oldest first (the next call goes on). */
const JOIN_LIMIT = 10_000
/** While alerts wait, the log says so again this often. */
const REPEAT_MS = 60_000

export interface CaseJoinSweep {
  joined: number
  waiting: number
  waitedSeconds: number | null
}

/**
 * Alerts that waited for their case (migration 0022): an analyst's session held the user's open case
 * locked when the alert was stored, so the alert was stored without it. Every few seconds a worker joins
 * those whose case is free again (aether_join_waiting_alerts: the same totals and "opened" event as an
 * alert joining at once), and says in its log what still waits and for how long.
 */
export class CaseJoins {
  private timer: NodeJS.Timeout | undefined
  private sweeping: Promise<unknown> | undefined
  private said = { waiting: 0, at: 0 }
  private failed = false
  /** Alerts waiting for their case, the whole team's, as last seen; undefined before the first look. */
  waiting: number | undefined

  constructor(
    private readonly pool: Pick<pg.Pool, 'query'>,
    private readonly options: { everyMs?: number; log?: (line: string) => void } = {},
  ) {}

  start(): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => {
      if (this.sweeping === undefined) this.sweeping = this.sweep().finally(() => (this.sweeping = undefined))
    }, this.options.everyMs ?? CASE_JOIN_EVERY_MS)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.sweeping
  }

  /** One pass; a store that does not answer is the worker's to report, so a failure is said once. */
  async sweep(): Promise<CaseJoinSweep | undefined> {
    let result: CaseJoinSweep
    try {
      const { rows } = await this.pool.query<{
        joined: number
        waiting: number
        waited_seconds: number | null
      }>('SELECT joined, waiting, waited_seconds FROM aether_join_waiting_alerts($1)', [JOIN_LIMIT])
      const row = rows[0]
      result = {
        joined: row?.joined ?? 0,
        waiting: row?.waiting ?? 0,
        waitedSeconds: row?.waited_seconds ?? null,
      }
      this.failed = false
    } catch (error) {
      if (!this.failed)
        this.options.log?.(`could not join the alerts waiting for their case: ${(error as Error).message}`)
      this.failed = true
      return undefined
    }
    this.waiting = result.waiting
    this.report(result)
    return result
  }

  private report({ joined, waiting, waitedSeconds }: CaseJoinSweep): void {
    const log = this.options.log
    if (log === undefined) return
    if (joined > 0)
      log(
        `${joined} alert${joined === 1 ? '' : 's'} that waited for ${joined === 1 ? 'its' : 'their'} case (locked by another session) joined it`,
      )
    const now = Date.now()
    if (waiting > 0 && (waiting !== this.said.waiting || now - this.said.at >= REPEAT_MS)) {
      log(
        `${waiting} alert${waiting === 1 ? ' waits' : 's wait'} for ${waiting === 1 ? 'its' : 'their'} case, the oldest for ${Math.round(waitedSeconds ?? 0)} s: another session holds the case locked (an open transaction that locked cases: pg_stat_activity, state "idle in transaction"). The transactions are stored and scored; the alerts join their case when the lock goes.`,
      )
      this.said = { waiting, at: now }
    } else if (waiting === 0) this.said = { waiting: 0, at: 0 }
  }
}
