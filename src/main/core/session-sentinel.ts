import pg from 'pg'
import type { ConnectionProblem } from '../../shared/profile'
import { ACCOUNT_DISABLED_MESSAGE } from '../../shared/session-contract'
import { postgresUrlWithPassword } from '../store/store'
import { diagnosePostgres } from './connection-check'

export interface SessionEnd {
  problem: ConnectionProblem
  message: string
}

/** Answers to a fresh login that mean this session is over, not that the network hiccupped. */
const SESSION_OVER = new Set<ConnectionProblem>([
  'account_disabled',
  'wrong_password',
  'password_required',
  'unknown_user',
])

/**
 * Disabling takes this database's CONNECT away, not the login (migration 0007: the login may be an
 * analyst of other databases): a login this session was let in with and is now refused it was disabled.
 */
const disabledHere = (error: unknown) =>
  (error as { code?: string }).code === '42501' &&
  /permission denied for database/.test(error instanceof Error ? error.message : String(error))

/** A terminated session is probed after this pause, so the disabling transaction has committed. */
const FIRST_PROBE_MS = 250
const LONGEST_PROBE_MS = 30_000

/**
 * One idle connection of the analyst's own that notices when the session ends. Disabling an analyst
 * terminates all of their backends (57P01), this one included, even while the app sits idle with no
 * query failing. A fresh login then tells why: "permission denied for database" (or, for an account
 * disabled before 0007, "not permitted to log in") means the account was disabled, and the
 * workstation says so; a server restart or network loss is only retried.
 */
export class SessionSentinel {
  private client: pg.Client | undefined
  private timer: NodeJS.Timeout | undefined
  private closed = false

  private constructor(
    private readonly url: string,
    private readonly password: string | undefined,
    private readonly onEnd: (end: SessionEnd) => void,
  ) {}

  static async watch(
    credentials: { postgresUrl: string; postgresPassword: string | undefined },
    onEnd: (end: SessionEnd) => void,
  ): Promise<SessionSentinel> {
    const sentinel = new SessionSentinel(credentials.postgresUrl, credentials.postgresPassword, onEnd)
    // The store has just signed in; a failure here is diagnosed by the next probe, after the switch.
    await sentinel.connect().catch(() => sentinel.schedule(FIRST_PROBE_MS))
    return sentinel
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: postgresUrlWithPassword(this.url, this.password),
      connectionTimeoutMillis: 5000,
      application_name: 'aether-workstation session',
    })
    const lost = () => {
      if (this.closed || client !== this.client) return
      this.client = undefined
      this.schedule(FIRST_PROBE_MS)
    }
    client.on('error', lost)
    client.on('end', lost)
    try {
      await client.connect()
    } catch (error) {
      await client.end().catch(() => {})
      throw error
    }
    if (this.closed) await client.end()
    else this.client = client
  }

  private schedule(delay: number) {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.probe(delay), delay)
    this.timer.unref()
  }

  private async probe(delay: number): Promise<void> {
    if (this.closed) return
    try {
      await this.connect()
    } catch (error) {
      const diagnosis = disabledHere(error)
        ? { problem: 'account_disabled' as const, message: ACCOUNT_DISABLED_MESSAGE }
        : diagnosePostgres(error, this.url)
      if (SESSION_OVER.has(diagnosis.problem)) {
        this.closed = true
        this.onEnd(diagnosis)
      } else this.schedule(Math.min(delay * 2, LONGEST_PROBE_MS))
    }
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    const client = this.client
    this.client = undefined
    await client?.end().catch(() => {})
  }
}
