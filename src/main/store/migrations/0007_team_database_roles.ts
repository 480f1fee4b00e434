import { sql, type Kysely } from 'kysely'

/**
 * One team database per analyst. 0002's group roles (aether_analyst ⊂ aether_supervisor ⊂ aether_admin,
 * aether_ingest) are shared by every database of the cluster, and every role could connect to every
 * database: an analyst of one team database was an analyst of all of them.
 *
 * From here each database has group roles of its own, named after it and its OID so no two databases of
 * a cluster share them: aether_<name>_<oid>_analyst, _supervisor, _admin and _ingest, where <name> is the
 * database's name in lower case, a-z and 0-9 only, without a leading "aether", cut at 32 bytes (61 in
 * all, under PostgreSQL's 63). `aether_team_role(kind)` names them. Every privilege 0002 and 0004 gave
 * the cluster-wide groups in this database (tables, columns, functions, schema, policies) moves to this
 * database's groups, and CONNECT is taken from PUBLIC and given to them. A login of another database is
 * in none of these groups: even if CONNECT were granted to PUBLIC again by mistake, it reads and changes
 * nothing here. Chosen over a per-database members table that policies consult because grants need no
 * policy on every table (the ingest path stays as fast) and PostgreSQL itself refuses what is not granted.
 * The names are fixed when this migration runs, so renaming the database keeps them; a copy made with
 * CREATE DATABASE … TEMPLATE or pg_restore keeps granting to the original's groups.
 *
 * Who was "added to this database" before: every enabled analyst of the analysts table (their role's
 * group, and ingest when their desk ingests), and every login then in aether_ingest that is not an
 * analyst here (pipeline workers were never recorded per database, so a worker of another database on
 * the same server is kept too; each is named in a NOTICE, and `REVOKE <ingest group> FROM worker` undoes
 * it). Members of the other cluster-wide groups who are not analysts here are not kept.
 *
 * One login may be an analyst of several databases of the server, with a role of each one's own. An
 * admin adds a login the server already has without a password (it keeps its own: a password is the
 * same for every database, so a password given for an existing login is refused rather than changed);
 * only a login of one person (LOGIN, no members, not a superuser or BYPASSRLS) can be added. Disabling,
 * enabling and role changes are of this database only: disabling takes this database's groups (and with
 * them its CONNECT) and ends the analyst's sessions on this database, never NOLOGIN, which would lock
 * them out of every other database too. Enabling lifts a NOLOGIN left by a disable from before this
 * migration.
 *
 * Also: audit_log rows are written only by the audit triggers, case_events only by the database and by
 * an analyst's own change of the case in the same transaction (or a note), never by a pipeline worker.
 * Each statement is a string of its own: PGlite takes one statement per query. On PGlite the single user
 * is the owner and every check passes.
 */

const SAFE_PATH = 'SET search_path = pg_catalog, public, pg_temp'

/**
 * An analyst's event must be a note, or tell of a change this session made to the case in this very
 * transaction and name the state the case is now in; "opened" and the like are the database's own.
 * (0020 also holds what the event says the case was and is to the truth.)
 */
export const CASE_EVENT_ALLOWED = `CREATE FUNCTION aether_case_event_allowed(p_case_id bigint, p_action text, p_before jsonb, p_after jsonb)
   RETURNS boolean
   LANGUAGE sql VOLATILE SECURITY DEFINER ${SAFE_PATH} AS $$
     SELECT CASE
       WHEN p_action = 'note' THEN p_before IS NULL AND p_after IS NULL
       WHEN p_action IN ('assigned', 'unassigned', 'open', 'in_review', 'escalated', 'closed') THEN EXISTS (
         SELECT 1 FROM public.cases c
          WHERE c.id = p_case_id
            AND c.xmin = pg_current_xact_id()::xid
            AND c.updated_by = session_user
            AND (p_after ->> 'status' IS NULL OR p_after ->> 'status' = c.status)
            AND CASE p_action
                  WHEN 'assigned' THEN c.assignee_id IS NOT NULL
                  WHEN 'unassigned' THEN c.assignee_id IS NULL
                  ELSE c.status = p_action
                END)
       WHEN p_action = 'blocklisted' THEN
         EXISTS (SELECT 1 FROM public.cases c WHERE c.id = p_case_id AND c.outcome = 'fraud_confirmed')
         AND EXISTS (SELECT 1 FROM public.lists l WHERE l.xmin = pg_current_xact_id()::xid)
       ELSE false
     END
   $$`

const groups = [
  // The database's own groups, and the function that names them (written with the names as constants).
  `DO $$
  DECLARE
    slug text := left(btrim(regexp_replace(regexp_replace(lower(current_database()), '[^a-z0-9]+', '_', 'g'),
                                           '^_*aether(_|$)', ''), '_'), 32);
    kind text;
    wanted text;
    names text[] := ARRAY[]::text[];
  BEGIN
    FOREACH kind IN ARRAY ARRAY['analyst', 'supervisor', 'admin', 'ingest'] LOOP
      wanted := concat_ws('_', 'aether', nullif(slug, ''),
                          (SELECT oid::text FROM pg_database WHERE datname = current_database()), kind);
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = wanted) THEN
        RAISE EXCEPTION 'The role "%" already exists; it belongs to a database of this OID that is gone: %',
          wanted, 'drop it first'
          USING ERRCODE = 'duplicate_object';
      END IF;
      EXECUTE format('CREATE ROLE %I NOLOGIN', wanted);
      EXECUTE format('COMMENT ON ROLE %I IS %L', wanted,
                     format('Aether: the %s group of the team database %s', kind, current_database()));
      names := names || wanted;
    END LOOP;
    EXECUTE format(
      $f$CREATE FUNCTION public.aether_team_role(p_kind text) RETURNS text
         LANGUAGE sql IMMUTABLE ${SAFE_PATH} AS $b$
           SELECT CASE p_kind WHEN 'analyst' THEN %L WHEN 'supervisor' THEN %L WHEN 'admin' THEN %L
                              WHEN 'ingest' THEN %L END
         $b$ $f$,
      names[1], names[2], names[3], names[4]);
  END
  $$`,
  `DO $$
  BEGIN
    EXECUTE format('GRANT %I TO %I', aether_team_role('analyst'), aether_team_role('supervisor'));
    EXECUTE format('GRANT %I TO %I', aether_team_role('supervisor'), aether_team_role('admin'));
  END
  $$`,
]

// What the cluster-wide groups were given in this database, given to this database's groups instead.
const moves = [
  `CREATE FUNCTION pg_temp.aether_mapped(p_role oid) RETURNS text LANGUAGE sql STABLE AS $$
     SELECT CASE r.rolname
       WHEN 'aether_analyst' THEN aether_team_role('analyst')
       WHEN 'aether_supervisor' THEN aether_team_role('supervisor')
       WHEN 'aether_admin' THEN aether_team_role('admin')
       WHEN 'aether_ingest' THEN aether_team_role('ingest')
     END
     FROM pg_roles r WHERE r.oid = p_role
   $$`,
  `DO $$
  DECLARE
    grant_row record;
  BEGIN
    FOR grant_row IN
      SELECT c.oid::regclass AS target, a.privilege_type, pg_temp.aether_mapped(a.grantee) AS grantee
        FROM pg_class c, aclexplode(c.relacl) a
       WHERE c.relnamespace = 'public'::regnamespace AND pg_temp.aether_mapped(a.grantee) IS NOT NULL
    LOOP
      EXECUTE format('GRANT %s ON %s TO %I', grant_row.privilege_type, grant_row.target, grant_row.grantee);
    END LOOP;
    FOR grant_row IN
      SELECT c.oid::regclass AS target, att.attname, a.privilege_type, pg_temp.aether_mapped(a.grantee) AS grantee
        FROM pg_class c JOIN pg_attribute att ON att.attrelid = c.oid AND att.attnum > 0 AND NOT att.attisdropped,
             aclexplode(att.attacl) a
       WHERE c.relnamespace = 'public'::regnamespace AND pg_temp.aether_mapped(a.grantee) IS NOT NULL
    LOOP
      EXECUTE format('GRANT %s (%I) ON %s TO %I', grant_row.privilege_type, grant_row.attname, grant_row.target,
                     grant_row.grantee);
    END LOOP;
    FOR grant_row IN
      SELECT c.oid::regclass AS target FROM pg_class c
       WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    LOOP
      EXECUTE format('REVOKE ALL ON %s FROM aether_analyst, aether_supervisor, aether_admin, aether_ingest',
                     grant_row.target);
    END LOOP;
    FOR grant_row IN
      SELECT p.oid::regprocedure AS target, pg_temp.aether_mapped(a.grantee) AS grantee
        FROM pg_proc p, aclexplode(p.proacl) a
       WHERE p.pronamespace = 'public'::regnamespace AND pg_temp.aether_mapped(a.grantee) IS NOT NULL
    LOOP
      EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', grant_row.target, grant_row.grantee);
      EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM aether_analyst, aether_supervisor, aether_admin, aether_ingest',
                     grant_row.target);
    END LOOP;
    FOR grant_row IN
      SELECT a.privilege_type, pg_temp.aether_mapped(a.grantee) AS grantee
        FROM pg_namespace n, aclexplode(n.nspacl) a
       WHERE n.nspname = 'public' AND pg_temp.aether_mapped(a.grantee) IS NOT NULL
    LOOP
      EXECUTE format('GRANT %s ON SCHEMA public TO %I', grant_row.privilege_type, grant_row.grantee);
    END LOOP;
    REVOKE ALL ON SCHEMA public FROM aether_analyst, aether_supervisor, aether_admin, aether_ingest;
    FOR grant_row IN
      SELECT pol.polname, pol.polrelid::regclass AS target,
             string_agg(CASE WHEN r.oid = 0 THEN 'PUBLIC'
                             ELSE quote_ident(coalesce(pg_temp.aether_mapped(r.oid), rol.rolname)) END, ', ') AS roles
        FROM pg_policy pol
        JOIN pg_class c ON c.oid = pol.polrelid AND c.relnamespace = 'public'::regnamespace
        CROSS JOIN LATERAL unnest(pol.polroles) AS r(oid)
        LEFT JOIN pg_roles rol ON rol.oid = r.oid
       GROUP BY pol.polname, pol.polrelid
      HAVING bool_or(pg_temp.aether_mapped(r.oid) IS NOT NULL)
    LOOP
      EXECUTE format('ALTER POLICY %I ON %s TO %s', grant_row.polname, grant_row.target, grant_row.roles);
    END LOOP;
  END
  $$`,
  `DROP FUNCTION pg_temp.aether_mapped(oid)`,
  `DO $$
  BEGIN
    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I, %I, %I', current_database(),
                   aether_team_role('analyst'), aether_team_role('ingest'), current_user);
    IF has_database_privilege('public', current_database(), 'CONNECT') THEN
      RAISE WARNING 'Every role may still connect to %: only its owner can take CONNECT from PUBLIC. %',
        current_database(),
        format('Ask them to run: REVOKE CONNECT ON DATABASE %1$I FROM PUBLIC; GRANT CONNECT ON DATABASE %1$I TO %2$I, %3$I, %4$I',
               current_database(), aether_team_role('analyst'), aether_team_role('ingest'), current_user);
    END IF;
  END
  $$`,
]

// Only the triggers write audit rows; workers write no case events (alerts open cases as the owner).
const auditOnlyByTriggers = [
  `DROP POLICY audit_log_append ON audit_log`,
  `DROP POLICY case_events_ingest_append ON case_events`,
  `DO $$
  BEGIN
    EXECUTE format('REVOKE INSERT ON audit_log FROM %I, %I', aether_team_role('analyst'), aether_team_role('ingest'));
    EXECUTE format('REVOKE INSERT ON case_events FROM %I', aether_team_role('ingest'));
  END
  $$`,
  CASE_EVENT_ALLOWED,
  `CREATE FUNCTION aether_guard_case_event() RETURNS trigger
   LANGUAGE plpgsql ${SAFE_PATH} AS $$
   BEGIN
     IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'public.cases'::regclass), 'USAGE')
        OR public.aether_case_event_allowed(NEW.case_id, NEW.action, NEW.before, NEW.after) THEN
       RETURN NEW;
     END IF;
     RAISE EXCEPTION 'Case event "%" refused: a note carries only its text, any other event must tell of %',
       NEW.action, format('your own change of case %s in the same transaction', NEW.case_id)
       USING ERRCODE = 'insufficient_privilege';
   END
   $$`,
  `REVOKE ALL ON FUNCTION aether_case_event_allowed(bigint, text, jsonb, jsonb) FROM PUBLIC`,
  `DO $$
  BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION aether_case_event_allowed(bigint, text, jsonb, jsonb) TO %I',
                   aether_team_role('analyst'));
  END
  $$`,
  `CREATE TRIGGER case_events_guard BEFORE INSERT ON case_events
     FOR EACH ROW EXECUTE FUNCTION aether_guard_case_event()`,
]

// 0002's functions that named the cluster-wide groups, now naming this database's.
/** Leaves a login in none of this database's staff groups (0024 adds the worker group to the list). */
export const STAFF_GROUPS_REVOKE = `CREATE OR REPLACE FUNCTION aether_staff_groups_revoke(p_login text) RETURNS void
   LANGUAGE plpgsql ${SAFE_PATH} AS $$
   DECLARE
     grp text;
   BEGIN
     FOR grp IN
       SELECT g.rolname FROM pg_auth_members m
         JOIN pg_roles g ON g.oid = m.roleid
         JOIN pg_roles r ON r.oid = m.member
        WHERE r.rolname = p_login
          AND g.rolname = ANY (ARRAY[public.aether_team_role('analyst'), public.aether_team_role('supervisor'),
                                     public.aether_team_role('admin'), public.aether_team_role('ingest')])
     LOOP
       EXECUTE format('REVOKE %I FROM %I', grp, p_login);
     END LOOP;
   END
   $$`

const functions = [
  `CREATE OR REPLACE FUNCTION aether_acts_as(p_group text) RETURNS boolean
   LANGUAGE sql STABLE ${SAFE_PATH} AS $$
     SELECT coalesce(pg_has_role(current_user, public.aether_team_role(regexp_replace(p_group, '^aether_', '')), 'USAGE'), false)
         OR pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'public.cases'::regclass), 'USAGE')
   $$`,
  `CREATE OR REPLACE FUNCTION aether_block_from_case(
     p_case_id bigint, p_kind text, p_value text, p_reason text, p_expires_at timestamptz DEFAULT NULL
   ) RETURNS bigint
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     subject public.cases;
     involved boolean;
     entry bigint;
   BEGIN
     SELECT * INTO subject FROM public.cases WHERE id = p_case_id;
     IF NOT FOUND THEN
       RAISE EXCEPTION 'There is no case %', p_case_id USING ERRCODE = 'no_data_found';
     END IF;
     IF NOT (pg_has_role(session_user, public.aether_team_role('supervisor'), 'USAGE')
             OR subject.assignee_id = public.aether_current_analyst_id()) THEN
       RAISE EXCEPTION 'Only the case''s assignee or a supervisor may block from case %', p_case_id
         USING ERRCODE = 'insufficient_privilege';
     END IF;
     IF subject.outcome IS DISTINCT FROM 'fraud_confirmed' THEN
       RAISE EXCEPTION 'Only a case closed as fraud can add to a blocklist' USING ERRCODE = 'check_violation';
     END IF;
     involved := CASE p_kind
       WHEN 'user' THEN subject.user_id = p_value
       WHEN 'counterparty' THEN EXISTS (SELECT 1 FROM public.alerts a JOIN public.transactions t USING (txn_id)
                                         WHERE a.case_id = p_case_id AND t.counterparty_id = p_value)
       WHEN 'ip' THEN EXISTS (SELECT 1 FROM public.alerts a JOIN public.transactions t USING (txn_id)
                               WHERE a.case_id = p_case_id AND host(t.source_ip) = p_value)
       WHEN 'device' THEN EXISTS (SELECT 1 FROM public.alerts a JOIN public.transactions t USING (txn_id)
                                   WHERE a.case_id = p_case_id AND t.device_id = p_value)
       ELSE false
     END;
     IF NOT involved THEN
       RAISE EXCEPTION '% "%" is not part of case %', p_kind, p_value, p_case_id
         USING ERRCODE = 'insufficient_privilege';
     END IF;
     INSERT INTO public.lists (kind, value, network, reason, expires_at)
     VALUES (p_kind, p_value, CASE WHEN p_kind = 'ip' THEN p_value::inet::cidr END, left(p_reason, 500), p_expires_at)
     ON CONFLICT (kind, value) DO UPDATE SET reason = excluded.reason, expires_at = excluded.expires_at
     RETURNING id INTO entry;
     RETURN entry;
   END
   $$`,
  // Adds a login to this database: a new one with its first password, or one the server already has (an
  // analyst of another team database, say) without one. A login's password is the same for every
  // database, so an admin of this one never sets it for an existing login, nor its rights elsewhere.
  `CREATE OR REPLACE FUNCTION aether_add_analyst(p_login text, p_display_name text, p_role text, p_password_verifier text)
   RETURNS public.analysts
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     added public.analysts;
     existing pg_roles;
   BEGIN
     IF p_login IS NULL OR p_login !~ '^[a-z][a-z0-9_.-]{0,62}$' OR p_login ~ '^(pg_|aether_)' THEN
       RAISE EXCEPTION 'A login is 1 to 63 lower-case letters, digits, _ . or -, starting with a letter (not pg_ or aether_)'
         USING ERRCODE = 'invalid_parameter_value';
     END IF;
     IF p_role IS NULL OR p_role NOT IN ('analyst', 'supervisor', 'admin') THEN
       RAISE EXCEPTION 'A role is analyst, supervisor or admin' USING ERRCODE = 'invalid_parameter_value';
     END IF;
     IF p_display_name IS NULL OR length(btrim(p_display_name)) NOT BETWEEN 1 AND 120 THEN
       RAISE EXCEPTION 'A display name has 1 to 120 characters' USING ERRCODE = 'invalid_parameter_value';
     END IF;
     IF p_password_verifier IS NOT NULL
        AND p_password_verifier !~ '^SCRAM-SHA-256\\$[0-9]+:[A-Za-z0-9+/=]+\\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$' THEN
       RAISE EXCEPTION 'The password must arrive as a SCRAM-SHA-256 verifier, never in plain text'
         USING ERRCODE = 'invalid_password';
     END IF;
     IF EXISTS (SELECT 1 FROM public.analysts WHERE login = p_login) THEN
       RAISE EXCEPTION '"%" is already an analyst of this database', p_login USING ERRCODE = 'duplicate_object';
     END IF;
     SELECT * INTO existing FROM pg_roles WHERE rolname = p_login;
     IF NOT FOUND THEN
       IF p_password_verifier IS NULL THEN
         RAISE EXCEPTION 'The login "%" is new on this server: give it a first password', p_login
           USING ERRCODE = 'invalid_password';
       END IF;
       EXECUTE format('CREATE ROLE %I LOGIN INHERIT PASSWORD %L IN ROLE %I', p_login, p_password_verifier,
                      public.aether_team_role(p_role));
     ELSE
       IF p_password_verifier IS NOT NULL THEN
         RAISE EXCEPTION 'The login "%" already exists on this server: add it without a password. %', p_login,
           'Its password is the same for every database it may use, so it is not changed here.'
           USING ERRCODE = 'duplicate_object';
       END IF;
       -- Its members would become analysts too; a role that cannot log in is a group, not an analyst.
       IF NOT existing.rolcanlogin OR EXISTS (SELECT 1 FROM pg_auth_members WHERE roleid = existing.oid) THEN
         RAISE EXCEPTION 'The role "%" is a group (it %): only a login of one person can be an analyst', p_login,
           CASE WHEN existing.rolcanlogin THEN 'has members' ELSE 'cannot log in' END
           USING ERRCODE = 'invalid_parameter_value';
       END IF;
       IF existing.rolsuper OR existing.rolbypassrls THEN
         RAISE EXCEPTION 'The login "%" is a superuser or bypasses row-level security: it cannot be an analyst', p_login
           USING ERRCODE = 'invalid_parameter_value';
       END IF;
       -- The group brings this database's CONNECT and rights; nothing else about the login changes.
       EXECUTE format('GRANT %I TO %I', public.aether_team_role(p_role), p_login);
     END IF;
     INSERT INTO public.analysts (login, display_name, role) VALUES (p_login, btrim(p_display_name), p_role)
     RETURNING * INTO added;
     RETURN added;
   END
   $$`,
  // Leaves the login in none of this database's groups. Its groups of other databases, and 0002's
  // cluster-wide ones (which carry no rights in a migrated database but may in one not migrated yet),
  // are other databases' business: a change of role here must not take them away.
  STAFF_GROUPS_REVOKE,
  `CREATE OR REPLACE FUNCTION aether_staff_groups_grant(p_analyst public.analysts) RETURNS void
   LANGUAGE plpgsql ${SAFE_PATH} AS $$
   BEGIN
     PERFORM public.aether_staff_groups_revoke(p_analyst.login);
     EXECUTE format('GRANT %I TO %I', public.aether_team_role(p_analyst.role), p_analyst.login);
     IF p_analyst.ingests THEN
       EXECUTE format('GRANT %I TO %I', public.aether_team_role('ingest'), p_analyst.login);
     END IF;
   END
   $$`,
  // Disabling is of this database only: its groups (and with them its CONNECT) are taken, the analysts
  // row says since when, and the analyst's sessions on this database end (last, so the commit follows at
  // once). The login itself is left alone (never NOLOGIN): it may be an analyst of other databases of the
  // server, whose admins decide there. A fresh login here is refused "permission denied for database".
  `CREATE OR REPLACE FUNCTION aether_disable_analyst(p_login text) RETURNS public.analysts
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     target public.analysts := public.aether_analyst_for_change(p_login);
   BEGIN
     PERFORM public.aether_staff_groups_revoke(p_login);
     UPDATE public.analysts SET disabled_at = coalesce(disabled_at, now()) WHERE id = target.id
     RETURNING * INTO target;
     PERFORM pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE usename = p_login AND datname = current_database() AND pid <> pg_backend_pid();
     RETURN target;
   END
   $$`,
  // Before this migration disabling set NOLOGIN; an analyst disabled then may log in again once enabled.
  `CREATE OR REPLACE FUNCTION aether_enable_analyst(p_login text) RETURNS public.analysts
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     target public.analysts := public.aether_analyst_for_change(p_login);
   BEGIN
     IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_login AND NOT rolcanlogin) THEN
       EXECUTE format('ALTER ROLE %I LOGIN', p_login);
     END IF;
     UPDATE public.analysts SET disabled_at = NULL WHERE id = target.id RETURNING * INTO target;
     PERFORM public.aether_staff_groups_grant(target);
     RETURN target;
   END
   $$`,
]

// Those added to this database before keep working (see the note at the top).
const members = [
  `DO $$
  DECLARE
    each_analyst public.analysts;
    worker text;
  BEGIN
    FOR each_analyst IN
      SELECT a.* FROM public.analysts a JOIN pg_roles r ON r.rolname = a.login
       WHERE a.disabled_at IS NULL AND NOT r.rolsuper AND a.login <> current_user
    LOOP
      EXECUTE format('GRANT %I TO %I', aether_team_role(each_analyst.role), each_analyst.login);
      IF each_analyst.ingests THEN
        EXECUTE format('GRANT %I TO %I', aether_team_role('ingest'), each_analyst.login);
      END IF;
    END LOOP;
    FOR worker IN
      SELECT r.rolname FROM pg_auth_members m
        JOIN pg_roles g ON g.oid = m.roleid
        JOIN pg_roles r ON r.oid = m.member
       WHERE g.rolname = 'aether_ingest' AND r.rolcanlogin
         AND NOT EXISTS (SELECT 1 FROM public.analysts a WHERE a.login = r.rolname)
    LOOP
      EXECUTE format('GRANT %I TO %I', aether_team_role('ingest'), worker);
      RAISE NOTICE 'The pipeline worker login "%" keeps ingesting into %', worker, current_database();
    END LOOP;
  END
  $$`,
]

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of [...groups, ...moves, ...auditOnlyByTriggers, ...functions, ...members])
    await sql.raw(statement).execute(db)
}

/**
 * Not reversible: the analysts' memberships of the cluster-wide groups are gone, and giving this
 * database's rights back to groups every database shares is the defect this fixes. Restore a dump.
 */
export function down(): Promise<void> {
  return Promise.reject(
    new Error('Migration 0007_team_database_roles cannot be undone; restore a dump taken before it.'),
  )
}
