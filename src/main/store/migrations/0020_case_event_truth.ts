import { sql, type Kysely } from 'kysely'
import { CASE_EVENT_ALLOWED } from './0007_team_database_roles'

/**
 * A case's timeline (case_events) is what the next analyst reads of who had it and what was decided;
 * 0007 let an analyst write an event only with their own change of the case in the same transaction,
 * but held only the new status to the truth. With a login and psql an analyst could take a case and
 * write "assigned, before: alice" (alice never had it), close one as legitimate and say "outcome:
 * fraud_confirmed", or add any key to what the event says. Now what an analyst's event says the case
 * is must be what it is (status, assignee's login, outcome, and nothing else), what it says the case
 * was must be what it was before this transaction first changed it (the audit trigger's row), and a
 * "blocklisted" event names only entries this transaction listed. The app writes exactly these.
 */

const SAFE_PATH = 'SET search_path = pg_catalog, public, pg_temp'

/** Whether `claim` (an event's before or after) says only true things of `row` (a case, as jsonb). */
const CASE_CLAIM = `CREATE FUNCTION aether_case_claim_true(claim jsonb, row_ jsonb) RETURNS boolean
   LANGUAGE plpgsql STABLE SECURITY DEFINER ${SAFE_PATH} AS $$
   BEGIN
     IF jsonb_typeof(claim) IS DISTINCT FROM 'object' OR row_ IS NULL THEN
       RETURN false;
     END IF;
     IF EXISTS (SELECT 1 FROM jsonb_object_keys(claim) k WHERE k NOT IN ('status', 'assignee', 'outcome')) THEN
       RETURN false;
     END IF;
     RETURN (NOT claim ? 'status' OR claim -> 'status' = row_ -> 'status')
       AND (NOT claim ? 'outcome' OR claim -> 'outcome' = coalesce(row_ -> 'outcome', 'null'::jsonb))
       AND (NOT claim ? 'assignee' OR claim -> 'assignee' = coalesce(
             (SELECT to_jsonb(a.login) FROM public.analysts a
               WHERE a.id = (row_ ->> 'assignee_id')::bigint), 'null'::jsonb));
   END
   $$`

const CASE_EVENT_TRUE = `CREATE OR REPLACE FUNCTION aether_case_event_allowed(p_case_id bigint, p_action text, p_before jsonb, p_after jsonb)
   RETURNS boolean
   LANGUAGE plpgsql VOLATILE SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     now_row jsonb;
     was_row jsonb;
   BEGIN
     IF p_action = 'note' THEN
       RETURN p_before IS NULL AND p_after IS NULL;
     END IF;
     IF p_action = 'blocklisted' THEN
       IF p_before IS NOT NULL OR jsonb_typeof(p_after) IS DISTINCT FROM 'object'
          OR jsonb_typeof(p_after -> 'entries') IS DISTINCT FROM 'array' THEN
         RETURN false;
       END IF;
       IF EXISTS (SELECT 1 FROM jsonb_object_keys(p_after) k WHERE k <> 'entries') THEN
         RETURN false;
       END IF;
       RETURN EXISTS (SELECT 1 FROM public.cases c WHERE c.id = p_case_id AND c.outcome = 'fraud_confirmed')
         AND EXISTS (SELECT 1 FROM public.lists l WHERE l.xmin = pg_current_xact_id()::xid)
         AND NOT EXISTS (
           SELECT 1 FROM jsonb_array_elements(p_after -> 'entries') e
            WHERE jsonb_typeof(e) IS DISTINCT FROM 'string'
               OR NOT EXISTS (SELECT 1 FROM public.lists l
                               WHERE l.xmin = pg_current_xact_id()::xid
                                 AND l.kind || ':' || l.value = e #>> '{}'));
     END IF;
     IF p_action NOT IN ('assigned', 'unassigned', 'open', 'in_review', 'escalated', 'closed') THEN
       RETURN false;
     END IF;
     SELECT to_jsonb(c) INTO now_row FROM public.cases c
      WHERE c.id = p_case_id
        AND c.xmin = pg_current_xact_id()::xid
        AND c.updated_by = session_user
        AND CASE p_action
              WHEN 'assigned' THEN c.assignee_id IS NOT NULL
              WHEN 'unassigned' THEN c.assignee_id IS NULL
              ELSE c.status = p_action
            END;
     IF now_row IS NULL THEN
       RETURN false;
     END IF;
     IF p_after IS NOT NULL AND NOT public.aether_case_claim_true(p_after, now_row) THEN
       RETURN false;
     END IF;
     IF p_before IS NOT NULL THEN
       -- The case as it was before this transaction's first change of it, from the audit trigger.
       SELECT l.before INTO was_row FROM public.audit_log l
        WHERE l.entity = 'cases' AND l.case_id = p_case_id AND l.xmin = pg_current_xact_id()::xid
        ORDER BY l.id
        LIMIT 1;
       RETURN public.aether_case_claim_true(p_before, was_row);
     END IF;
     RETURN true;
   END
   $$`

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    CASE_CLAIM,
    `REVOKE ALL ON FUNCTION aether_case_claim_true(jsonb, jsonb) FROM PUBLIC`,
    CASE_EVENT_TRUE,
  ])
    await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    CASE_EVENT_ALLOWED.replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION'),
    'DROP FUNCTION aether_case_claim_true(jsonb, jsonb)',
  ])
    await sql.raw(statement).execute(db)
}
