import { sql, type Kysely } from 'kysely'
import { STAFF_GROUPS_REVOKE } from './0007_team_database_roles'

/**
 * The team webhook's URL (a credential: a Slack URL carries its token) was readable by the whole ingest
 * group, and an analyst whose workstation ingests is in that group: they could read the token from psql.
 * Only `aether worker` posts the webhook, so the URL and the delivery records go to a group of their
 * own, the database's worker group (`aether_team_role('worker')`), which is a member of the ingest group:
 * one GRANT makes a login a full headless worker. The ingest group keeps writing transactions and alerts,
 * and reads the settings' key and who set them, as analysts do.
 *
 * Workers added before keep posting: every login then in the ingest group that is not an analyst of this
 * database (a worker's or a gateway's login; they are not told apart in the catalog) is granted the worker
 * group, each named in a NOTICE (`REVOKE <worker group> FROM <login>` undoes it for a gateway's).
 *
 * An analyst's login is one person's, the worker group a service's: disabling an analyst, or changing
 * their role or ingest right, takes the worker group away too (aether_staff_groups_revoke), so a disabled
 * analyst keeps no way in. A copy of the database (CREATE DATABASE … TEMPLATE) keeps granting to the
 * original's groups, this one too: migrating the second of the two finds the group made, and uses it.
 */

const SAFE_PATH = 'SET search_path = pg_catalog, public, pg_temp'

/** aether_team_role() written again with the constants it is given (0007 writes it the same way). */
const teamRoleFunction = (kinds: readonly string[]) =>
  `EXECUTE format(
     $f$CREATE OR REPLACE FUNCTION public.aether_team_role(p_kind text) RETURNS text
        LANGUAGE sql IMMUTABLE ${SAFE_PATH} AS $b$
          SELECT CASE p_kind ${kinds.map((kind) => `WHEN '${kind}' THEN %L`).join(' ')} END
        $b$ $f$,
     ${kinds.map((kind) => (kind === 'worker' ? 'worker_group' : `aether_team_role('${kind}')`)).join(', ')});`

const STAFF_KINDS = ['analyst', 'supervisor', 'admin', 'ingest'] as const

const REVOKE_WITH_WORKER = STAFF_GROUPS_REVOKE.replace(
  "public.aether_team_role('ingest')])",
  "public.aether_team_role('ingest'), public.aether_team_role('worker')])",
)
if (REVOKE_WITH_WORKER === STAFF_GROUPS_REVOKE)
  throw new Error("0024: 0007's aether_staff_groups_revoke is not the text this migration was written for")

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(
      `DO $$
       DECLARE
         worker_group text := regexp_replace(aether_team_role('ingest'), '_ingest$', '_worker');
         worker text;
       BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = worker_group) THEN
           EXECUTE format('CREATE ROLE %I NOLOGIN', worker_group);
           EXECUTE format('COMMENT ON ROLE %I IS %L', worker_group,
                          format('Aether: the worker group of the team database %s (ingest, and the team webhook)',
                                 current_database()));
           EXECUTE format('GRANT %I TO %I', aether_team_role('ingest'), worker_group);
         ELSIF NOT EXISTS (SELECT 1 FROM pg_auth_members
                            WHERE roleid = aether_team_role('ingest')::regrole AND member = worker_group::regrole) THEN
           -- Not the group of this database's ingest group (nor of the original of a copy): a stranger's.
           RAISE EXCEPTION 'The role "%" already exists and is not this database''s: %', worker_group,
             'drop it first if it belongs to a database that is gone'
             USING ERRCODE = 'duplicate_object';
         END IF;
         ${teamRoleFunction([...STAFF_KINDS, 'worker'])}
         EXECUTE format('REVOKE SELECT (value) ON triage_settings FROM %I', aether_team_role('ingest'));
         EXECUTE format('GRANT SELECT (updated_by, updated_at) ON triage_settings TO %I', aether_team_role('ingest'));
         EXECUTE format('REVOKE SELECT, UPDATE ON webhook_deliveries FROM %I', aether_team_role('ingest'));
         EXECUTE format('GRANT SELECT (key, value) ON triage_settings TO %I', worker_group);
         EXECUTE format('GRANT SELECT, UPDATE (attempts, next_attempt_at, lease_holder, lease_until, sent_at, status, error) ON webhook_deliveries TO %I',
                        worker_group);
         FOR worker IN
           SELECT r.rolname FROM pg_auth_members m
             JOIN pg_roles r ON r.oid = m.member
            WHERE m.roleid = aether_team_role('ingest')::regrole AND r.rolcanlogin AND r.rolname <> current_user
              AND NOT EXISTS (SELECT 1 FROM public.analysts a WHERE a.login = r.rolname)
         LOOP
           EXECUTE format('GRANT %I TO %I', worker_group, worker);
           RAISE NOTICE 'The login "%" keeps posting the team webhook of %: it is now in %', worker,
             current_database(), worker_group;
         END LOOP;
       END
       $$`,
    )
    .execute(db)
  await sql.raw(REVOKE_WITH_WORKER).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw(STAFF_GROUPS_REVOKE).execute(db)
  await sql
    .raw(
      `DO $$
       DECLARE
         worker_group text := aether_team_role('worker');
         member text;
       BEGIN
         FOR member IN
           SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
            WHERE m.roleid = worker_group::regrole
         LOOP
           EXECUTE format('REVOKE %I FROM %I', worker_group, member);
           EXECUTE format('GRANT %I TO %I', aether_team_role('ingest'), member);
         END LOOP;
         EXECUTE format('REVOKE ALL ON webhook_deliveries FROM %I', worker_group);
         EXECUTE format('REVOKE ALL ON triage_settings FROM %I', worker_group);
         EXECUTE format('GRANT SELECT, UPDATE (attempts, next_attempt_at, lease_holder, lease_until, sent_at, status, error) ON webhook_deliveries TO %I',
                        aether_team_role('ingest'));
         EXECUTE format('REVOKE SELECT (updated_by, updated_at) ON triage_settings FROM %I', aether_team_role('ingest'));
         EXECUTE format('GRANT SELECT (key, value) ON triage_settings TO %I', aether_team_role('ingest'));
         ${teamRoleFunction(STAFF_KINDS)}
         BEGIN
           EXECUTE format('DROP ROLE %I', worker_group);
         EXCEPTION WHEN dependent_objects_still_exist THEN
           RAISE NOTICE 'The role "%" is kept: another database (a copy of this one) still grants to it', worker_group;
         END;
       END
       $$`,
    )
    .execute(db)
}
