import { sql, type Kysely } from 'kysely'
import { BLOCK_FROM_CASE } from './0013_analyst_search'

/**
 * What an analyst's own database login could do to triage beyond what the app lets them (a review with
 * a login and psql):
 * - `aether_block_from_case` on a value already listed overwrote its expiry and reason: an analyst who
 *   closed a case as fraud could lift an admin's permanent block (expiry 2000-01-01) or shorten it. An
 *   entry now only ever lengthens (permanent wins) and keeps its reason.
 * - `version`, `updated_at` and `closed_at` were the writer's to set: `version = 2147483647` on the open
 *   cases made every later edit of them fail (integer out of range) for the whole team, an old version
 *   defeated the stale-edit check, and closed_at could be backdated. The store now keeps them: a version
 *   that changes goes up by one, a changed updated_at is now, closed_at is now when the case closes and
 *   nothing otherwise.
 * - A closed case was still the analyst's to update (reopened and closed again with another outcome,
 *   with no event); the app refuses that, and now so does the database (supervisors keep their policy).
 */

const OLD_UPSERT =
  'ON CONFLICT (kind, value) DO UPDATE SET reason = excluded.reason, expires_at = excluded.expires_at'
const LENGTHEN_ONLY = `ON CONFLICT (kind, value) DO UPDATE SET expires_at =
       CASE WHEN lists.expires_at IS NULL OR excluded.expires_at IS NULL THEN NULL
            ELSE greatest(lists.expires_at, excluded.expires_at) END`

const blockFromCase = () => {
  if (!BLOCK_FROM_CASE.includes(OLD_UPSERT))
    throw new Error("0019: 0013's aether_block_from_case is not the text this migration was written for")
  return BLOCK_FROM_CASE.replace(OLD_UPSERT, LENGTHEN_ONLY)
}

const OWN_CASES = 'assignee_id IS NULL OR assignee_id = (SELECT aether_current_analyst_id())'

const up_ = [
  blockFromCase(),
  `CREATE FUNCTION aether_cases_bookkeeping() RETURNS trigger
   LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
   BEGIN
     IF NEW.version IS DISTINCT FROM OLD.version THEN NEW.version := OLD.version + 1; END IF;
     IF NEW.updated_at IS DISTINCT FROM OLD.updated_at THEN NEW.updated_at := now(); END IF;
     IF NEW.closed_at IS DISTINCT FROM OLD.closed_at THEN
       NEW.closed_at := CASE WHEN NEW.status = 'closed' AND OLD.status <> 'closed' THEN now() ELSE OLD.closed_at END;
     END IF;
     RETURN NEW;
   END
   $$`,
  `CREATE TRIGGER cases_bookkeeping BEFORE UPDATE ON cases
     FOR EACH ROW EXECUTE FUNCTION aether_cases_bookkeeping()`,
  `ALTER POLICY cases_analyst_triage ON cases USING (status <> 'closed' AND (${OWN_CASES}))`,
]

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of up_) await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    `ALTER POLICY cases_analyst_triage ON cases USING (${OWN_CASES})`,
    'DROP TRIGGER cases_bookkeeping ON cases',
    'DROP FUNCTION aether_cases_bookkeeping()',
    BLOCK_FROM_CASE,
  ])
    await sql.raw(statement).execute(db)
}
