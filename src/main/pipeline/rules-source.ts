import { sql } from 'kysely'
import { DEFAULT_RULES } from '../../shared/rules'
import { messageOf } from '../errors'
import { createListMatcher } from '../scoring'
import type { StoreDb } from '../store/schema'
import {
  activeListEntries,
  latestRulesVersion,
  listsToken,
  readRuleSet,
  type ScoringConfig,
} from '../store/scoring-config'

export type { ScoringConfig }

/**
 * The rule set and lists the worker scores with: the newest saved rule set version (DEFAULT_RULES while
 * none is saved) and the unexpired list entries, re-read when they change, without a restart: at once
 * when the store announces a change (`invalidate`), otherwise at the next poll, which also catches an
 * entry's expiry and a notification lost with its connection. It reads with store/scoring-config.ts, as
 * everything else that decides as scoring does. A read waits at most READ_LOCK_TIMEOUT for a lock (an
 * admin's `LOCK TABLE lists` left open in psql held every batch): a read that fails keeps the last
 * configuration in force, and `stale` says since when.
 */
const READ_LOCK_TIMEOUT = '1s'

export class RulesSource {
  private config: ScoringConfig | undefined
  private rulesVersion: number | null | undefined
  private listsToken: string | undefined
  private nextCheck = 0
  private invalidations = 0
  /** Why the newest saved rule set is not in use, when it cannot be read. */
  problem: string | undefined
  /** Why the rules and lists in use may be out of date: the last re-read failed. */
  stale: string | undefined
  private readAt: Date | undefined

  constructor(
    /** Where scoring's configuration is read (a PipelineStore passes its store's). */
    private readonly store: { readonly db: StoreDb },
    private readonly pollMs = 3000,
  ) {}

  /** Makes the next `current()` read the store again: a list or rule set has just changed. */
  invalidate(): void {
    this.invalidations++
    this.nextCheck = 0
    // An entry's expiry changed in place may leave the lists token as it was: read them again anyway.
    this.listsToken = undefined
    this.rulesVersion = undefined
  }

  /** The current configuration, re-checked at most every pollMs; a failed check keeps the last one. */
  async current(): Promise<ScoringConfig> {
    if (this.config !== undefined && Date.now() < this.nextCheck) return this.config
    this.nextCheck = Date.now() + this.pollMs
    const invalidations = this.invalidations
    try {
      const read = await this.store.db.transaction().execute(async (trx) => {
        await sql.raw(`SET LOCAL lock_timeout = '${READ_LOCK_TIMEOUT}'`).execute(trx)
        return this.read(trx)
      })
      // Taken only once all of it is read: a read that fails half way changes nothing.
      this.config = read.config
      if (read.problem !== null) this.problem = read.problem
      // A change announced while this read ran may not be in it: the next check reads everything again.
      if (invalidations === this.invalidations) {
        this.rulesVersion = read.version
        this.listsToken = read.token
      }
      this.stale = undefined
      this.readAt = new Date()
    } catch (error) {
      if (this.config === undefined) throw error
      this.stale =
        `Scoring goes on with the rules and lists read at ${this.readAt?.toISOString() ?? 'start'}: ` +
        `reading them again failed (${messageOf(error)}).`
    }
    return this.config
  }

  /** What changed since the last read (problem: null where the rule set was not read again). */
  private async read(db: StoreDb) {
    const version = await latestRulesVersion(db)
    const token = await listsToken(db)
    let rules = this.config?.rules
    let problem: string | undefined | null = null
    if (version !== this.rulesVersion || rules === undefined)
      ({ rules, problem } = await readRuleSet(db, version, rules ?? DEFAULT_RULES))
    let lists = this.config?.lists
    if (token !== this.listsToken || lists === undefined)
      lists = createListMatcher(await activeListEntries(db), new Date())
    return { config: { rules, lists }, problem, version, token }
  }

  get version(): number | undefined {
    return this.config?.rules.version
  }
}
