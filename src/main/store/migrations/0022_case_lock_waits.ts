import { sql, type Kysely } from 'kysely'
import { MAX_AMOUNT_AT_RISK } from './0018_case_totals'
import { joinsCaseChosen } from './0019_triage_guards'

/**
 * An analyst's lock on a case no longer stops ingestion. Analysts may update cases, so their login may
 * also lock case rows (`SELECT … FROM cases FOR UPDATE`, or FOR SHARE) and keep them locked in an open
 * transaction: a psql session left open, a workstation that hung mid-edit. An alert of that case's user
 * then waited for the lock inside a worker's batch, and with it every transaction of the batch, of the
 * worker's partitions, and of the Decision API's callers waiting on them, until the analyst's
 * transaction ended.
 *
 * Now an alert whose user's open case is locked by another session is stored without its case and
 * waits in alert_case_waits; so do the user's later alerts, keeping their order. Workers join waiting
 * alerts to their case when the lock is gone (aether_join_waiting_alerts, every few seconds), with the
 * same totals and the same "opened" event an alert joining at once gets.
 */

const SAFE_PATH = 'SET search_path = pg_catalog, public, pg_temp'

/** The user's open case with this alert counted in it, opened if there is none; NULL if another session holds it. */
const CASE_FOR_ALERT = `CREATE FUNCTION aether_case_for_alert(
     p_alert_id bigint, p_user_id text, p_score smallint, p_decision text, p_amount numeric, p_ts timestamptz
   ) RETURNS bigint LANGUAGE plpgsql ${SAFE_PATH} AS $$
   DECLARE
     found_id bigint;
     due timestamptz := now() + CASE WHEN p_decision = 'block' THEN interval '1 hour' ELSE interval '4 hours' END;
   BEGIN
     -- A new case, unless the user has an open one (its row is not locked by this: DO NOTHING only looks).
     INSERT INTO public.cases AS c (user_id, priority, max_score, amount_at_risk, alert_count, last_alert_at, due_at)
     VALUES (p_user_id, p_score, p_score, p_amount, 1, p_ts, due)
     ON CONFLICT (user_id) WHERE status <> 'closed' DO NOTHING
     RETURNING c.id INTO found_id;
     IF found_id IS NOT NULL THEN
       INSERT INTO public.case_events (case_id, action, after)
       VALUES (found_id, 'opened', jsonb_build_object(
         'status', 'open', 'alert_id', p_alert_id, 'score', p_score, 'decision', p_decision));
       RETURN found_id;
     END IF;
     -- The open case, unless another session holds it locked: then none (NULL), at once.
     UPDATE public.cases c SET
       priority = greatest(c.priority, p_score),
       max_score = greatest(c.max_score, p_score),
       amount_at_risk = least(c.amount_at_risk + p_amount, ${MAX_AMOUNT_AT_RISK}),
       alert_count = c.alert_count + 1,
       last_alert_at = greatest(c.last_alert_at, p_ts),
       due_at = least(c.due_at, due)
      WHERE c.id = (SELECT o.id FROM public.cases o WHERE o.user_id = p_user_id AND o.status <> 'closed'
                      FOR NO KEY UPDATE SKIP LOCKED)
     RETURNING c.id INTO found_id;
     RETURN found_id;
   END
   $$`

const JOINS_CASE = `CREATE OR REPLACE FUNCTION aether_alert_joins_case() RETURNS trigger
   LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
   BEGIN
     SELECT t.ts, t.user_id, t.amount INTO NEW.ts, NEW.user_id, NEW.amount
       FROM transactions t WHERE t.txn_id = NEW.txn_id;
     IF NOT FOUND THEN
       RAISE EXCEPTION 'alert for unknown transaction %', NEW.txn_id USING ERRCODE = 'foreign_key_violation';
     END IF;
     IF NEW.case_id IS NOT NULL AND NOT pg_has_role(session_user,
        (SELECT relowner FROM pg_catalog.pg_class WHERE oid = 'public.alerts'::regclass), 'MEMBER') THEN
       NEW.case_id := NULL;
     END IF;
     IF NEW.case_id IS NULL THEN
       -- Behind an older alert of the same user that waits, this one waits too: they join in order.
       IF NOT EXISTS (SELECT 1 FROM alert_case_waits w WHERE w.user_id = NEW.user_id) THEN
         NEW.case_id := aether_case_for_alert(NEW.id, NEW.user_id, NEW.score, NEW.decision, NEW.amount, NEW.ts);
       END IF;
       IF NEW.case_id IS NULL THEN
         INSERT INTO alert_case_waits (alert_id, user_id) VALUES (NEW.id, NEW.user_id);
       END IF;
     END IF;
     RETURN NEW;
   END
   $$`

/**
 * Joins waiting alerts whose case is free, each user's in order (at most p_limit users a call); says how
 * many joined, how many still wait and how long the oldest has waited.
 */
const JOIN_WAITING = `CREATE FUNCTION aether_join_waiting_alerts(p_limit integer)
   RETURNS TABLE (joined integer, waiting integer, waited_seconds double precision)
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     u record;
     w record;
     joined_case bigint;
     n integer := 0;
   BEGIN
     FOR u IN SELECT q.user_id FROM public.alert_case_waits q
               GROUP BY q.user_id ORDER BY min(q.alert_id) LIMIT greatest(p_limit, 0) LOOP
       FOR w IN
         SELECT q.alert_id, a.score, a.decision, a.amount, a.ts
           FROM public.alert_case_waits q JOIN public.alerts a ON a.id = q.alert_id
          WHERE q.user_id = u.user_id
          ORDER BY q.alert_id
            FOR UPDATE OF q SKIP LOCKED
       LOOP
         -- Another worker is joining an older alert of this user: the rest are its to join, in order.
         EXIT WHEN EXISTS (SELECT 1 FROM public.alert_case_waits o
                            WHERE o.user_id = u.user_id AND o.alert_id < w.alert_id);
         joined_case := public.aether_case_for_alert(w.alert_id, u.user_id, w.score, w.decision, w.amount, w.ts);
         -- Still locked: the user's later alerts wait behind this one.
         EXIT WHEN joined_case IS NULL;
         UPDATE public.alerts SET case_id = joined_case WHERE id = w.alert_id;
         DELETE FROM public.alert_case_waits WHERE alert_id = w.alert_id;
         n := n + 1;
       END LOOP;
     END LOOP;
     RETURN QUERY SELECT n, (SELECT count(*)::integer FROM public.alert_case_waits),
                         (SELECT extract(epoch FROM clock_timestamp() - min(q.since))::double precision
                            FROM public.alert_case_waits q);
   END
   $$`

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    // Checked at commit: the alert's row is written after its BEFORE trigger adds the wait.
    `CREATE TABLE alert_case_waits (
       alert_id  bigint PRIMARY KEY REFERENCES alerts (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
       user_id   text NOT NULL,
       since     timestamptz NOT NULL DEFAULT now()
     )`,
    `CREATE INDEX alert_case_waits_user ON alert_case_waits (user_id, alert_id)`,
    CASE_FOR_ALERT,
    `REVOKE ALL ON FUNCTION aether_case_for_alert(bigint, text, smallint, text, numeric, timestamptz) FROM PUBLIC`,
    JOINS_CASE,
    JOIN_WAITING,
    `REVOKE ALL ON FUNCTION aether_join_waiting_alerts(integer) FROM PUBLIC`,
    `DO $$
     BEGIN
       EXECUTE format('GRANT EXECUTE ON FUNCTION aether_join_waiting_alerts(integer) TO %I', aether_team_role('ingest'));
       EXECUTE format('GRANT SELECT ON alert_case_waits TO %I, %I', aether_team_role('analyst'), aether_team_role('ingest'));
     END
     $$`,
  ])
    await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    // What can join now does; an alert whose case is still locked is left without one.
    `SELECT aether_join_waiting_alerts(2147483647)`,
    joinsCaseChosen(),
    `DROP FUNCTION aether_join_waiting_alerts(integer)`,
    `DROP FUNCTION aether_case_for_alert(bigint, text, smallint, text, numeric, timestamptz)`,
    `DROP TABLE alert_case_waits`,
  ])
    await sql.raw(statement).execute(db)
}
