import { sql } from 'kysely'
import { DEFAULT_RULES, RuleSet } from '../../shared/rules'
import { createListMatcher, type ListEntry, type ListMatcher } from '../scoring'
import type { StoreDb } from './schema'

/**
 * What scoring reads from the store, read in one place: the newest saved rule set (DEFAULT_RULES while
 * none is saved) and the unexpired list entries. The pipeline worker keeps it fresh through
 * pipeline/rules-source.ts; anything else that decides as scoring does reads it with readScoringConfig.
 */

export interface ScoringConfig {
  rules: RuleSet
  lists: ListMatcher
}

/** The newest rule set version stored, or null when none has been saved yet. */
export async function latestRulesVersion(db: StoreDb): Promise<number | null> {
  const row = await db
    .selectFrom('rules')
    .select((eb) => eb.fn.max('version').as('version'))
    .executeTakeFirst()
  return row?.version ?? null
}

/** A stored rule set as scoring uses it: the row's version stands, whatever its definition says. */
export const parseStoredRules = (definition: unknown, version: number) =>
  RuleSet.safeParse({ ...(definition as object), version })

/**
 * The rule set saved as `version` (DEFAULT_RULES for null). One that is not valid leaves `fallback` in
 * force, and `problem` says why.
 */
export async function readRuleSet(
  db: StoreDb,
  version: number | null,
  fallback: RuleSet,
): Promise<{ rules: RuleSet; problem: string | undefined }> {
  if (version === null) return { rules: DEFAULT_RULES, problem: undefined }
  const row = await db
    .selectFrom('rules')
    .select('definition')
    .where('version', '=', version)
    .executeTakeFirst()
  const parsed = parseStoredRules(row?.definition, version)
  if (parsed.success) return { rules: parsed.data, problem: undefined }
  return {
    rules: fallback,
    problem: `Rule set version ${version} is not valid (${parsed.error.issues[0]?.message ?? 'unknown'}); scoring goes on with version ${fallback.version}.`,
  }
}

/** A token that changes whenever the lists change (an expiry set, moved or lifted too) or an entry expires. */
export async function listsToken(db: StoreDb): Promise<string> {
  const { rows } = await sql<{ token: string }>`
    SELECT concat_ws('/', count(*), max(id), max(created_at),
           min(expires_at) FILTER (WHERE expires_at > now()),
           count(expires_at), sum(extract(epoch FROM expires_at))) AS token FROM lists`.execute(db)
  return rows[0]?.token ?? ''
}

/** The list entries in force now. */
export async function activeListEntries(db: StoreDb): Promise<ListEntry[]> {
  return db
    .selectFrom('lists')
    .select(['kind', 'value'])
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .orderBy('id')
    .execute()
}

/**
 * The configuration scoring uses now, read once (the worker's RulesSource re-reads only what changed).
 * A newest rule set that is not valid leaves DEFAULT_RULES in force, with the problem said.
 */
export async function readScoringConfig(
  db: StoreDb,
): Promise<ScoringConfig & { rulesProblem: string | undefined }> {
  const [version, entries] = await Promise.all([latestRulesVersion(db), activeListEntries(db)])
  const { rules, problem } = await readRuleSet(db, version, DEFAULT_RULES)
  return { rules, lists: createListMatcher(entries, new Date()), rulesProblem: problem }
}
