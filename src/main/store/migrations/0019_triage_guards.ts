import { sql, type Kysely } from 'kysely'
import { BLOCK_FROM_CASE } from './0013_analyst_search'
import { joinsCase, MAX_AMOUNT_AT_RISK } from './0018_case_totals'

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
 * - Labels (what rule precision and the dashboard count as fraud) had no row-level security: an analyst
 *   labelled a colleague's open case's transaction, or any transaction. An analyst now writes a label
 *   only as closing their own case does: for an alert of that case, with the case's outcome.
 * - An analyst whose desk ingests could move an alert into a colleague's case (UPDATE alerts SET
 *   case_id), insert one naming any case, or rewrite a transaction's counterparty before blocking it:
 *   the ingest group loses UPDATE on transactions and alerts (the workers only insert), and an alert's
 *   case is the trigger's to choose unless the schema's owner names one (seeding, repairs).
 * - Analysts could still insert webhook deliveries (0004's, before 0011 made a trigger enqueue them):
 *   `INSERT … SELECT id FROM alerts` had every old alert posted to the team's Slack, and they could
 *   rewrite a delivery's status. The trigger and the posters (the ingest group) need no analyst right.
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

/** The label's case is the analyst's own, the transaction one of its alerts (and, written, its outcome). */
const LABEL_OF_OWN_CASE_ANY_OUTCOME = `EXISTS (SELECT 1 FROM cases c JOIN alerts a ON a.case_id = c.id
     WHERE c.id = labels.case_id AND a.txn_id = labels.txn_id AND c.assignee_id = (SELECT aether_current_analyst_id()))`
const LABEL_OF_OWN_CASE = `EXISTS (SELECT 1 FROM cases c JOIN alerts a ON a.case_id = c.id
     WHERE c.id = labels.case_id AND a.txn_id = labels.txn_id AND c.assignee_id = (SELECT aether_current_analyst_id())
       AND c.outcome = labels.outcome)`

const JOINS_CASE_0018 = joinsCase(`least(c.amount_at_risk + excluded.amount_at_risk, ${MAX_AMOUNT_AT_RISK})`)
const CHOOSES = '  IF NEW.case_id IS NULL THEN'
/** 0019's aether_alert_joins_case (0022 restores it on the way down). */
export const joinsCaseChosen = () => {
  if (!JOINS_CASE_0018.includes(CHOOSES))
    throw new Error("0019: 0018's aether_alert_joins_case is not the text this migration was written for")
  return JOINS_CASE_0018.replace(
    CHOOSES,
    `  IF NEW.case_id IS NOT NULL AND NOT pg_has_role(session_user,
       (SELECT relowner FROM pg_catalog.pg_class WHERE oid = 'public.alerts'::regclass), 'MEMBER') THEN
    NEW.case_id := NULL;
  END IF;
${CHOOSES}`,
  )
}

const up_ = [
  joinsCaseChosen(),
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
  `ALTER TABLE labels ENABLE ROW LEVEL SECURITY`,
  `DO $$
   BEGIN
     EXECUTE format('CREATE POLICY labels_read ON labels FOR SELECT TO %I, %I USING (true)',
                    aether_team_role('analyst'), aether_team_role('ingest'));
     EXECUTE format('CREATE POLICY labels_analyst_insert ON labels FOR INSERT TO %I WITH CHECK (${LABEL_OF_OWN_CASE})',
                    aether_team_role('analyst'));
     EXECUTE format('CREATE POLICY labels_analyst_update ON labels FOR UPDATE TO %I USING (${LABEL_OF_OWN_CASE_ANY_OUTCOME}) WITH CHECK (${LABEL_OF_OWN_CASE})',
                    aether_team_role('analyst'));
     EXECUTE format('CREATE POLICY labels_supervisor ON labels FOR ALL TO %I USING (true) WITH CHECK (true)',
                    aether_team_role('supervisor'));
     EXECUTE format('REVOKE INSERT, UPDATE ON webhook_deliveries FROM %I', aether_team_role('analyst'));
     EXECUTE format('REVOKE UPDATE ON transactions, alerts FROM %I', aether_team_role('ingest'));
   END
   $$`,
]

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of up_) await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    `DO $$
     BEGIN
       EXECUTE format('GRANT INSERT (alert_id), UPDATE (status, error) ON webhook_deliveries TO %I',
                      aether_team_role('analyst'));
       EXECUTE format('GRANT UPDATE ON transactions, alerts TO %I', aether_team_role('ingest'));
     END
     $$`,
    'DROP POLICY labels_supervisor ON labels',
    'DROP POLICY labels_analyst_update ON labels',
    'DROP POLICY labels_analyst_insert ON labels',
    'DROP POLICY labels_read ON labels',
    'ALTER TABLE labels DISABLE ROW LEVEL SECURITY',
    `ALTER POLICY cases_analyst_triage ON cases USING (${OWN_CASES})`,
    'DROP TRIGGER cases_bookkeeping ON cases',
    'DROP FUNCTION aether_cases_bookkeeping()',
    BLOCK_FROM_CASE,
    JOINS_CASE_0018,
  ])
    await sql.raw(statement).execute(db)
}
