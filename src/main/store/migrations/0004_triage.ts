import { sql, type Kysely } from 'kysely'
import { runScript } from './script'

/**
 * Triage: alerts open or join the user's case inside the database (so every writer, embedded or
 * headless, gets the same behaviour), every open workstation hears of new alerts by NOTIFY, analysts'
 * outcomes become labels, and the grid's sort orders have indexes that keep a page fast at millions of
 * rows.
 */
/** The trigger function as this migration makes it (0018 derives its own from it). */
export const ALERT_JOINS_CASE = `
    CREATE FUNCTION aether_alert_joins_case() RETURNS trigger
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
          amount_at_risk = c.amount_at_risk + excluded.amount_at_risk,
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

export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE alerts
      ADD COLUMN ts       timestamptz,
      ADD COLUMN user_id  text,
      ADD COLUMN amount   numeric(18, 2);

    UPDATE alerts SET ts = t.ts, user_id = t.user_id, amount = t.amount
      FROM transactions t WHERE t.txn_id = alerts.txn_id;

    ALTER TABLE cases
      ADD COLUMN max_score       smallint NOT NULL DEFAULT 0,
      ADD COLUMN amount_at_risk  numeric(18, 2) NOT NULL DEFAULT 0,
      ADD COLUMN alert_count     integer NOT NULL DEFAULT 0,
      ADD COLUMN last_alert_at   timestamptz,
      ADD COLUMN updated_by      text NOT NULL DEFAULT session_user;

    -- Keyset paging of the Transactions grid: every sort order ends with txn_id so pages never overlap.
    DROP INDEX transactions_ts;
    CREATE INDEX transactions_ts_txn ON transactions (ts DESC, txn_id DESC);
    CREATE INDEX transactions_amount_txn ON transactions (amount DESC, txn_id DESC);
    CREATE INDEX scores_score_txn ON scores (score DESC, txn_id DESC);
    -- Review and block rows are the alerts: filtering on them walks this small index, not the whole table.
    CREATE INDEX alerts_decision_ts ON alerts (decision, ts DESC, txn_id DESC);
    CREATE INDEX alerts_ts_txn ON alerts (ts DESC, txn_id DESC);
    CREATE INDEX alerts_user ON alerts (user_id, ts DESC);

    -- The order "Next case" hands cases out in: highest score, most money at risk, oldest.
    CREATE INDEX cases_next ON cases (priority DESC, amount_at_risk DESC, opened_at, id)
      WHERE status = 'open' AND assignee_id IS NULL;
    CREATE INDEX cases_assignee ON cases (assignee_id, status);

    -- Analysts' outcomes as labels on each alerted transaction of a closed case: rule precision comes from here.
    CREATE TABLE labels (
      txn_id       uuid PRIMARY KEY REFERENCES transactions (txn_id) ON DELETE CASCADE,
      case_id      bigint NOT NULL REFERENCES cases (id),
      outcome      text NOT NULL CHECK (outcome IN ('fraud_confirmed', 'false_positive', 'inconclusive')),
      labelled_by  text NOT NULL DEFAULT session_user,
      labelled_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX labels_case ON labels (case_id);

    -- Team-wide settings of the triage area, such as the Slack-compatible webhook.
    CREATE TABLE triage_settings (
      key         text PRIMARY KEY CHECK (key ~ '^[a-z_]{1,64}$'),
      value       text NOT NULL,
      updated_by  text NOT NULL DEFAULT session_user,
      updated_at  timestamptz NOT NULL DEFAULT now()
    );

    -- Every open workstation hears each alert; the first to claim it here is the one that posts the webhook.
    CREATE TABLE webhook_deliveries (
      alert_id    bigint PRIMARY KEY REFERENCES alerts (id) ON DELETE CASCADE,
      claimed_by  text NOT NULL DEFAULT session_user,
      claimed_at  timestamptz NOT NULL DEFAULT now(),
      status      integer,
      error       text
    );
  `,
  )

  // A stale edit must say who changed the case and when, even when row-level security now hides the case
  // from the analyst who tried (it went to someone else): this reveals that much and nothing more.
  await sql
    .raw(
      `
    CREATE FUNCTION aether_case_stamp(p_case_id bigint)
    RETURNS TABLE (version integer, updated_by text, updated_at timestamptz, assignee text, status text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
      SELECT c.version, c.updated_by, c.updated_at, a.display_name, c.status
        FROM public.cases c LEFT JOIN public.analysts a ON a.id = c.assignee_id
       WHERE c.id = p_case_id
    $$`,
    )
    .execute(db)

  for (const statement of [
    `REVOKE ALL ON FUNCTION aether_case_stamp(bigint) FROM PUBLIC`,
    `GRANT EXECUTE ON FUNCTION aether_case_stamp(bigint) TO aether_analyst`,
    `GRANT SELECT ON labels, triage_settings, webhook_deliveries TO aether_analyst`,
    `GRANT INSERT (txn_id, case_id, outcome), UPDATE (case_id, outcome) ON labels TO aether_analyst`,
    `GRANT INSERT (key, value), UPDATE (value) ON triage_settings TO aether_admin`,
    `GRANT INSERT (alert_id), UPDATE (status, error) ON webhook_deliveries TO aether_analyst`,
    // Workers fence partitions and keep users' features in 0003's tables, which came after 0002's grants.
    `GRANT SELECT, INSERT, UPDATE ON pipeline_partitions, user_features TO aether_ingest`,
    `CREATE TRIGGER labels_actor BEFORE INSERT OR UPDATE ON labels
       FOR EACH ROW EXECUTE FUNCTION aether_stamp_actor('labelled_by', 'labelled_at')`,
    `CREATE TRIGGER triage_settings_actor BEFORE INSERT OR UPDATE ON triage_settings
       FOR EACH ROW EXECUTE FUNCTION aether_stamp_actor('updated_by', 'updated_at')`,
    `CREATE TRIGGER webhook_deliveries_actor BEFORE INSERT ON webhook_deliveries
       FOR EACH ROW EXECUTE FUNCTION aether_stamp_actor('claimed_by', 'claimed_at')`,
    `CREATE TRIGGER triage_settings_audit AFTER INSERT OR UPDATE OR DELETE ON triage_settings
       FOR EACH ROW EXECUTE FUNCTION aether_audit('key')`,
  ])
    await sql.raw(statement).execute(db)

  // A new alert joins the user's open case or opens one. The unique partial index on cases makes two
  // writers racing on the same user meet in ON CONFLICT instead of opening two cases.
  await sql.raw(ALERT_JOINS_CASE).execute(db)
  await sql
    .raw(
      `CREATE TRIGGER alerts_join_case BEFORE INSERT ON alerts
       FOR EACH ROW EXECUTE FUNCTION aether_alert_joins_case()`,
    )
    .execute(db)

  // One NOTIFY per inserted batch of up to 400 ids (a payload must stay under 8000 bytes). NOTIFY is
  // delivered on commit, so a listener that reads these ids always finds the rows.
  await sql
    .raw(
      `
    CREATE FUNCTION aether_notify_alerts() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
      ids text;
    BEGIN
      FOR ids IN
        SELECT string_agg(id::text, ',' ORDER BY id)
          FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / 400 AS page FROM inserted) numbered
         GROUP BY page
      LOOP
        PERFORM pg_notify('aether_alerts', ids);
      END LOOP;
      RETURN NULL;
    END
    $$`,
    )
    .execute(db)
  await sql
    .raw(
      `CREATE TRIGGER alerts_notify AFTER INSERT ON alerts REFERENCING NEW TABLE AS inserted
       FOR EACH STATEMENT EXECUTE FUNCTION aether_notify_alerts()`,
    )
    .execute(db)

  // Queues on every workstation refresh when any case changes; identical ids in one transaction fold into one.
  await sql
    .raw(
      `
    CREATE FUNCTION aether_notify_case_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('aether_cases', NEW.id::text);
      RETURN NULL;
    END
    $$`,
    )
    .execute(db)
  await sql
    .raw(
      `CREATE TRIGGER cases_notify AFTER INSERT OR UPDATE ON cases
       FOR EACH ROW EXECUTE FUNCTION aether_notify_case_change()`,
    )
    .execute(db)

  // Whoever changes a case is recorded on it, so a refused stale edit can say who changed it and when.
  await sql
    .raw(
      `
    CREATE FUNCTION aether_case_touched() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      NEW.updated_by := session_user;
      RETURN NEW;
    END
    $$`,
    )
    .execute(db)
  await sql
    .raw(
      `CREATE TRIGGER cases_touched BEFORE UPDATE ON cases
       FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION aether_case_touched()`,
    )
    .execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    DROP TRIGGER triage_settings_audit ON triage_settings;
    DROP TRIGGER webhook_deliveries_actor ON webhook_deliveries;
    DROP TRIGGER triage_settings_actor ON triage_settings;
    DROP TRIGGER labels_actor ON labels;
    DROP FUNCTION aether_case_stamp(bigint);
    DROP TRIGGER cases_touched ON cases;
    DROP TRIGGER cases_notify ON cases;
    DROP TRIGGER alerts_notify ON alerts;
    DROP TRIGGER alerts_join_case ON alerts;
    DROP FUNCTION aether_case_touched();
    DROP FUNCTION aether_notify_case_change();
    DROP FUNCTION aether_notify_alerts();
    DROP FUNCTION aether_alert_joins_case();
    DROP TABLE webhook_deliveries, triage_settings, labels;
    DROP INDEX cases_assignee, cases_next, alerts_user, alerts_ts_txn, alerts_decision_ts, scores_score_txn,
      transactions_amount_txn, transactions_ts_txn;
    CREATE INDEX transactions_ts ON transactions (ts DESC);
    ALTER TABLE cases DROP COLUMN updated_by, DROP COLUMN last_alert_at, DROP COLUMN alert_count,
      DROP COLUMN amount_at_risk, DROP COLUMN max_score;
    ALTER TABLE alerts DROP COLUMN amount, DROP COLUMN user_id, DROP COLUMN ts;
  `,
  )
}
