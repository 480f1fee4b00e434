import { sql } from 'kysely'
import { DEFAULT_RULES, describeRuleChange, RuleSet } from '../../shared/rules'
import type { RulePrecision, RuleVersion } from '../../shared/triage-contract'
import type { StoreDb } from '../store/schema'
import { parseStoredRules } from '../store/scoring-config'
import { iso } from './db'
import { judged, TriageConflictError, TriageInvalidError, TriageNotFoundError } from './errors'

/**
 * Rule set versions. A save is a new row, never an update; running workers reload the newest version
 * from this table. Before the first save the built-in DEFAULT_RULES are in force as version 1, and the
 * first save records them as version 1 so the history starts where scoring did.
 */

interface StoredVersion {
  version: number
  definition: RuleSet
  author: string
  comment: string
  createdAt: string
}

const BUILT_IN_AUTHOR = 'built-in'

/** A saved rule set, read as scoring reads it; history cannot show one that is not valid. */
const storedRules = (definition: unknown, version: number): RuleSet => {
  const parsed = parseStoredRules(definition, version)
  if (!parsed.success) throw parsed.error
  return parsed.data
}

async function storedVersions(db: StoreDb): Promise<StoredVersion[]> {
  const rows = await db
    .selectFrom('rules')
    .select(['version', 'definition', 'author', 'comment', 'created_at'])
    .orderBy('version')
    .execute()
  return rows.map((row) => ({
    version: row.version,
    definition: storedRules(row.definition, row.version),
    author: row.author,
    comment: row.comment,
    createdAt: iso(row.created_at),
  }))
}

const builtIn = (): StoredVersion => ({
  version: DEFAULT_RULES.version,
  definition: DEFAULT_RULES,
  author: BUILT_IN_AUTHOR,
  comment: 'The built-in rule set',
  createdAt: new Date(0).toISOString(),
})

/** Every version, newest first, each with what changed from the one before it. */
export async function ruleVersions(db: StoreDb): Promise<RuleVersion[]> {
  const stored = await storedVersions(db)
  const history = stored.length === 0 ? [builtIn()] : stored
  return history
    .map((entry, index) => {
      const previous = history[index - 1]
      return {
        version: entry.version,
        author: entry.author,
        comment: entry.comment,
        createdAt: entry.createdAt,
        definition: entry.definition,
        changes: previous === undefined ? [] : describeRuleChange(previous.definition, entry.definition),
      }
    })
    .reverse()
}

export async function saveRules(
  db: StoreDb,
  input: { baseVersion: number | null; definition: unknown; comment: string },
): Promise<RuleVersion> {
  const parsed = RuleSet.safeParse({ ...(input.definition as object), version: 1 })
  if (!parsed.success)
    throw new TriageInvalidError(
      `The rule set is not valid: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    )
  // Two saves racing from the same base both aim at the same version: the primary key lets one win.
  const saving = judged('save rules', () =>
    db.transaction().execute(async (trx) => {
      const latest = await trx
        .selectFrom('rules')
        .select(['version', 'author', 'created_at', 'definition'])
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst()
      const current = latest?.version ?? DEFAULT_RULES.version
      if ((input.baseVersion ?? DEFAULT_RULES.version) !== current)
        throw new TriageConflictError(
          `${latest?.author ?? 'Someone'} saved rules version ${current} after the one you edited; reload to see it.`,
        )
      const previous = latest === undefined ? DEFAULT_RULES : RuleSet.parse(latest.definition)
      if (latest === undefined)
        await trx
          .insertInto('rules')
          .values({
            version: DEFAULT_RULES.version,
            definition: JSON.stringify(DEFAULT_RULES),
            comment: 'The built-in rule set',
          })
          .execute()
      const version = current + 1
      const definition: RuleSet = { ...parsed.data, version }
      const row = await trx
        .insertInto('rules')
        .values({ version, definition: JSON.stringify(definition), comment: input.comment })
        .returning(['version', 'author', 'comment', 'created_at'])
        .executeTakeFirstOrThrow()
      return {
        version: row.version,
        author: row.author,
        comment: row.comment,
        createdAt: iso(row.created_at),
        definition,
        changes: describeRuleChange(previous, definition),
      }
    }),
  )
  return saving.catch((error: unknown) => {
    if (error instanceof TriageConflictError && !error.message.includes('reload'))
      throw new TriageConflictError('Another rules version was saved at the same moment; reload to see it.')
    throw error
  })
}

/** Reverting saves a new version equal to an old one, so history only ever grows. */
export async function revertRules(
  db: StoreDb,
  input: { version: number; baseVersion: number | null },
): Promise<RuleVersion> {
  const stored = await storedVersions(db)
  const target = (stored.length === 0 ? [builtIn()] : stored).find((entry) => entry.version === input.version)
  if (target === undefined) throw new TriageNotFoundError(`There is no rules version ${input.version}.`)
  return saveRules(db, {
    baseVersion: input.baseVersion,
    definition: target.definition,
    comment: `Revert to version ${input.version}`,
  })
}

/** Each rule's precision from analysts' outcomes on the alerts it took part in. */
export async function rulePrecision(db: StoreDb): Promise<RulePrecision[]> {
  const { rows } = await sql<{ rule: string; fired: number; confirmed: number; false_positive: number }>`
    SELECT reason ->> 'rule' AS rule,
           count(*)::int AS fired,
           (count(*) FILTER (WHERE l.outcome = 'fraud_confirmed'))::int AS confirmed,
           (count(*) FILTER (WHERE l.outcome = 'false_positive'))::int AS false_positive
      FROM alerts a
     CROSS JOIN LATERAL jsonb_array_elements(a.reasons) AS reason
      LEFT JOIN labels l ON l.txn_id = a.txn_id
     WHERE jsonb_typeof(a.reasons) = 'array'
     GROUP BY 1
     ORDER BY 2 DESC, 1`.execute(db)
  return rows.map((row) => {
    const judgedCount = row.confirmed + row.false_positive
    return {
      rule: row.rule,
      fired: row.fired,
      confirmed: row.confirmed,
      falsePositive: row.false_positive,
      precision: judgedCount === 0 ? null : row.confirmed / judgedCount,
    }
  })
}
