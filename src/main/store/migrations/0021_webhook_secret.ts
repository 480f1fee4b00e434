import { sql, type Kysely } from 'kysely'

/**
 * The team's webhook URL is a credential (a Slack incoming-webhook URL carries its token in its path:
 * whoever has it posts to the channel as the app). Every analyst could read it, from triage_settings and
 * from the audit of its changes. Now only admins (who set it) and the ingest group (whose workers post
 * to it) read the value; analysts and supervisors see that a setting exists, who set it and when. The
 * audit keeps the URL's scheme and host and its last 4 characters, as do the audit rows written before.
 */

const SAFE_PATH = 'SET search_path = pg_catalog, public, pg_temp'

/** https://hooks.slack.com/services/T0/B0/XXXX → https://hooks.slack.com/…XXXX (jsonb in, jsonb out). */
const MASK = `CREATE FUNCTION aether_masked_setting(p_row jsonb) RETURNS jsonb
   LANGUAGE sql IMMUTABLE ${SAFE_PATH} AS $$
     SELECT CASE
       WHEN p_row IS NULL OR p_row ->> 'key' IS DISTINCT FROM 'webhook_url' OR p_row ->> 'value' IS NULL THEN p_row
       ELSE jsonb_set(p_row, '{value}', to_jsonb(
              coalesce(substring(p_row ->> 'value' FROM '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*'), '')
              || '/…' || right(p_row ->> 'value', 4)))
     END
   $$`

const AUDIT_SETTING = `CREATE FUNCTION aether_audit_setting() RETURNS trigger
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     old_row jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN public.aether_masked_setting(to_jsonb(OLD)) END;
     new_row jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN public.aether_masked_setting(to_jsonb(NEW)) END;
   BEGIN
     IF TG_OP = 'UPDATE' AND to_jsonb(OLD) = to_jsonb(NEW) THEN
       RETURN NULL;
     END IF;
     INSERT INTO public.audit_log (entity, entity_id, case_id, action, before, after)
     VALUES (TG_TABLE_NAME, coalesce(new_row, old_row) ->> 'key', NULL, lower(TG_OP), old_row, new_row);
     RETURN NULL;
   END
   $$`

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    MASK,
    AUDIT_SETTING,
    `REVOKE ALL ON FUNCTION aether_audit_setting() FROM PUBLIC`,
    `DROP TRIGGER triage_settings_audit ON triage_settings`,
    `CREATE TRIGGER triage_settings_audit AFTER INSERT OR UPDATE OR DELETE ON triage_settings
       FOR EACH ROW EXECUTE FUNCTION aether_audit_setting()`,
    `UPDATE audit_log SET before = aether_masked_setting(before), after = aether_masked_setting(after)
      WHERE entity = 'triage_settings' AND entity_id = 'webhook_url'`,
    `DO $$
     BEGIN
       EXECUTE format('REVOKE SELECT ON triage_settings FROM %I', aether_team_role('analyst'));
       EXECUTE format('GRANT SELECT (key, updated_by, updated_at) ON triage_settings TO %I', aether_team_role('analyst'));
       EXECUTE format('GRANT SELECT ON triage_settings TO %I', aether_team_role('admin'));
     END
     $$`,
  ])
    await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    `DO $$
     BEGIN
       EXECUTE format('REVOKE SELECT ON triage_settings FROM %I', aether_team_role('admin'));
       EXECUTE format('REVOKE SELECT (key, updated_by, updated_at) ON triage_settings FROM %I', aether_team_role('analyst'));
       EXECUTE format('GRANT SELECT ON triage_settings TO %I', aether_team_role('analyst'));
     END
     $$`,
    `DROP TRIGGER triage_settings_audit ON triage_settings`,
    `CREATE TRIGGER triage_settings_audit AFTER INSERT OR UPDATE OR DELETE ON triage_settings
       FOR EACH ROW EXECUTE FUNCTION aether_audit('key')`,
    `DROP FUNCTION aether_audit_setting()`,
    `DROP FUNCTION aether_masked_setting(jsonb)`,
  ])
    await sql.raw(statement).execute(db)
}
