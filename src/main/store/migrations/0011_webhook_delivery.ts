import { sql, type Kysely } from 'kysely'

/**
 * The team's Slack-compatible webhook, posted by the headless side (triage/webhook-poster.ts), exactly
 * once per block alert however many workers run, with retries, whether or not a workstation is open.
 *
 * A delivery row is made in the transaction that stores the alert (a statement trigger on alerts, only
 * while a webhook is set), so no alert is ever missed or posted from history. A poster claims due rows
 * with a lease (lease_holder, lease_until) and marks sent_at after the receiver's 2xx; a failure sets
 * next_attempt_at with a backoff; a poster that dies mid-delivery leaves a lease that expires, and
 * another takes the row over. Rows of before this migration were the workstations' to post: marked sent.
 * The trigger's function runs with its owner's rights, so the workers' group needs nothing for it; the
 * ingest group (which the posters connect as) reads the setting and updates what a delivery records.
 */

const SAFE_PATH = 'SET search_path = pg_catalog, public, pg_temp'

const statements = [
  `ALTER TABLE webhook_deliveries
     ADD COLUMN attempts integer NOT NULL DEFAULT 0,
     ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
     ADD COLUMN lease_holder text,
     ADD COLUMN lease_until timestamptz,
     ADD COLUMN sent_at timestamptz`,
  `UPDATE webhook_deliveries SET sent_at = claimed_at`,
  `CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE sent_at IS NULL`,
  `CREATE FUNCTION aether_enqueue_webhooks() RETURNS trigger
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   BEGIN
     IF EXISTS (SELECT 1 FROM public.triage_settings WHERE key = 'webhook_url') THEN
       INSERT INTO public.webhook_deliveries (alert_id)
       SELECT id FROM new_alerts WHERE decision = 'block'
       ON CONFLICT (alert_id) DO NOTHING;
     END IF;
     RETURN NULL;
   END
   $$`,
  `REVOKE ALL ON FUNCTION aether_enqueue_webhooks() FROM PUBLIC`,
  `CREATE TRIGGER alerts_webhook AFTER INSERT ON alerts REFERENCING NEW TABLE AS new_alerts
     FOR EACH STATEMENT EXECUTE FUNCTION aether_enqueue_webhooks()`,
  `DO $$
  BEGIN
    EXECUTE format('GRANT SELECT (key, value) ON triage_settings TO %I', aether_team_role('ingest'));
    EXECUTE format('GRANT SELECT, UPDATE (attempts, next_attempt_at, lease_holder, lease_until, sent_at, status, error) ON webhook_deliveries TO %I',
                   aether_team_role('ingest'));
  END
  $$`,
]

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    'DROP TRIGGER alerts_webhook ON alerts',
    'DROP FUNCTION aether_enqueue_webhooks()',
    'DROP INDEX webhook_deliveries_due',
    `ALTER TABLE webhook_deliveries DROP COLUMN attempts, DROP COLUMN next_attempt_at,
       DROP COLUMN lease_holder, DROP COLUMN lease_until, DROP COLUMN sent_at`,
  ])
    await sql.raw(statement).execute(db)
}
