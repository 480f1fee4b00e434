import { sql, type Kysely } from 'kysely'

/**
 * A case's amount at risk saturates at the column's largest value instead of overflowing. It summed the
 * amounts of its user's alerts into numeric(18, 2): a user with two alerts of 9e15 (inside the 16 digits
 * a transaction's amount may have) overflowed it, PostgreSQL refused the alert's insert, and so the
 * whole transaction: each later alerting transaction of that user became a dead letter until the case
 * was closed, where the riskiest users are the ones that matter most. The function is 0004's with that
 * one line changed.
 */

export const joinsCase = (amountAtRisk: string) => `
CREATE OR REPLACE FUNCTION aether_alert_joins_case() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  opened boolean;
BEGIN
  SELECT t.ts, t.user_id, t.amount INTO NEW.ts, NEW.user_id, NEW.amount
    FROM transactions t WHERE t.txn_id = NEW.txn_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'alert for unknown transaction %', NEW.txn_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF NEW.case_id IS NULL THEN
    INSERT INTO cases AS c (user_id, priority, max_score, amount_at_risk, alert_count, last_alert_at, due_at)
    VALUES (NEW.user_id, NEW.score, NEW.score, NEW.amount, 1, NEW.ts,
            now() + CASE WHEN NEW.decision = 'block' THEN interval '1 hour' ELSE interval '4 hours' END)
    ON CONFLICT (user_id) WHERE status <> 'closed' DO UPDATE SET
      priority = greatest(c.priority, excluded.priority),
      max_score = greatest(c.max_score, excluded.max_score),
      amount_at_risk = ${amountAtRisk},
      alert_count = c.alert_count + 1,
      last_alert_at = greatest(c.last_alert_at, excluded.last_alert_at),
      due_at = least(c.due_at, excluded.due_at)
    RETURNING c.id, (c.xmax = 0) INTO NEW.case_id, opened;
    IF opened THEN
      INSERT INTO case_events (case_id, action, after)
      VALUES (NEW.case_id, 'opened', jsonb_build_object(
        'status', 'open', 'alert_id', NEW.id, 'score', NEW.score, 'decision', NEW.decision));
    END IF;
  END IF;
  RETURN NEW;
END
$$`

/** numeric(18, 2)'s largest value. */
export const MAX_AMOUNT_AT_RISK = '9999999999999999.99'

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(joinsCase(`least(c.amount_at_risk + excluded.amount_at_risk, ${MAX_AMOUNT_AT_RISK})`))
    .execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw(joinsCase('c.amount_at_risk + excluded.amount_at_risk')).execute(db)
}
