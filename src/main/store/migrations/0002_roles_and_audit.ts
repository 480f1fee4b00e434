import { sql, type Kysely } from 'kysely'

/**
 * Team identity, enforced by PostgreSQL itself so a raw SQL client with an analyst's credentials has
 * exactly the analyst's rights:
 * - group roles (cluster-global, NOLOGIN): aether_analyst ⊂ aether_supervisor ⊂ aether_admin, and
 *   aether_ingest for pipeline workers. Each analyst is a login role in one of them.
 * - GRANTs per table and column, row-level security on cases, case_events and audit_log.
 * - an append-only audit_log written by triggers for every change to cases, rules, lists and analysts;
 *   the actor always comes from the database session (session_user), never from the client.
 * - analyst administration through SECURITY DEFINER functions owned by the schema owner, executable
 *   only by aether_admin (CREATEROLE is not inherited through group membership).
 * The same text applies to PGlite, where the single user is the owner and every check passes.
 * Each statement is a string of its own: PGlite takes one statement per query and function bodies
 * contain semicolons.
 */

const STAFF_GROUPS = `ARRAY['aether_analyst', 'aether_supervisor', 'aether_admin', 'aether_ingest']`
const SAFE_PATH = 'SET search_path = pg_catalog, public, pg_temp'

const roles = [
  // Roles are shared by every database of the cluster: create them once, and tolerate another
  // database's migration creating them at the same moment (it commits first, we see a unique violation).
  `DO $$
  DECLARE
    wanted text;
    risky text;
  BEGIN
    FOREACH wanted IN ARRAY ARRAY['aether_analyst', 'aether_supervisor', 'aether_admin', 'aether_ingest'] LOOP
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = wanted) THEN
        BEGIN
          EXECUTE format('CREATE ROLE %I NOLOGIN', wanted);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
          NULL;
        END;
      END IF;
    END LOOP;
    SELECT string_agg(rolname, ', ') INTO risky FROM pg_roles
     WHERE rolname IN ('aether_analyst', 'aether_supervisor', 'aether_admin', 'aether_ingest')
       AND (rolcanlogin OR rolsuper OR rolbypassrls OR rolcreaterole);
    IF risky IS NOT NULL THEN
      RAISE EXCEPTION 'The group roles % must be NOLOGIN without superuser, BYPASSRLS or CREATEROLE', risky
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  END
  $$`,
  `DO $$
  DECLARE
    link text[];
  BEGIN
    FOREACH link SLICE 1 IN ARRAY ARRAY[['aether_analyst', 'aether_supervisor'], ['aether_supervisor', 'aether_admin']] LOOP
      IF NOT EXISTS (
        SELECT 1 FROM pg_auth_members m
          JOIN pg_roles g ON g.oid = m.roleid
          JOIN pg_roles r ON r.oid = m.member
         WHERE g.rolname = link[1] AND r.rolname = link[2]
      ) THEN
        BEGIN
          EXECUTE format('GRANT %I TO %I', link[1], link[2]);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
          NULL;
        END;
      END IF;
    END LOOP;
  END
  $$`,
  // Before PostgreSQL 15 every role may create objects in public; nobody but the owner should.
  `REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
]

const auditLog = [
  `CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL DEFAULT session_user,
    entity     text NOT NULL CHECK (length(entity) BETWEEN 1 AND 64),
    entity_id  text CHECK (length(entity_id) <= 128),
    case_id    bigint,
    action     text NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
    before     jsonb,
    after      jsonb
  )`,
  `CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, id)`,
  `CREATE INDEX audit_log_case ON audit_log (case_id, id) WHERE case_id IS NOT NULL`,
  `CREATE INDEX audit_log_at ON audit_log (at DESC)`,
  // An analyst's workstation runs a pipeline worker with the analyst's login only if an admin says so.
  `ALTER TABLE analysts ADD COLUMN ingests boolean NOT NULL DEFAULT false`,
  `ALTER TABLE case_events ALTER COLUMN actor SET DEFAULT session_user`,
  `ALTER TABLE rules ALTER COLUMN author SET DEFAULT session_user`,
  `ALTER TABLE lists ALTER COLUMN created_by SET DEFAULT session_user`,
]

const functions = [
  // Who is calling, from the session: SET ROLE changes current_user, never session_user.
  `CREATE FUNCTION aether_current_analyst_id() RETURNS bigint
   LANGUAGE sql STABLE ${SAFE_PATH} AS $$
     SELECT id FROM public.analysts WHERE login = session_user AND disabled_at IS NULL
   $$`,
  // Whether the current role has a group's rights; the schema owner (and a superuser) has them all.
  `CREATE FUNCTION aether_acts_as(p_group text) RETURNS boolean
   LANGUAGE sql STABLE ${SAFE_PATH} AS $$
     SELECT pg_has_role(current_user, p_group, 'USAGE')
         OR pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'public.cases'::regclass), 'USAGE')
   $$`,
  // The actor (and time) of an append-only row come from the session, whatever the client sent.
  `CREATE FUNCTION aether_stamp_actor() RETURNS trigger
   LANGUAGE plpgsql ${SAFE_PATH} AS $$
   BEGIN
     NEW := jsonb_populate_record(NEW, jsonb_build_object(TG_ARGV[0], session_user, TG_ARGV[1], now()));
     RETURN NEW;
   END
   $$`,
  `CREATE FUNCTION aether_audit() RETURNS trigger
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     old_row jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
     new_row jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
     subject text := coalesce(new_row, old_row) ->> TG_ARGV[0];
   BEGIN
     IF TG_OP = 'UPDATE' AND old_row = new_row THEN
       RETURN NULL;
     END IF;
     INSERT INTO public.audit_log (entity, entity_id, case_id, action, before, after)
     VALUES (TG_TABLE_NAME, subject, CASE WHEN TG_TABLE_NAME = 'cases' THEN subject::bigint END,
             lower(TG_OP), old_row, new_row);
     RETURN NULL;
   END
   $$`,
  // Closing several cases in one statement is a supervisor's bulk action.
  `CREATE FUNCTION aether_guard_bulk_close() RETURNS trigger
   LANGUAGE plpgsql ${SAFE_PATH} AS $$
   BEGIN
     IF (SELECT count(*) FROM changed_now n JOIN changed_before o ON o.id = n.id
          WHERE n.status = 'closed' AND o.status <> 'closed') > 1
        AND NOT public.aether_acts_as('aether_supervisor') THEN
       RAISE EXCEPTION 'Closing several cases at once is for supervisors'
         USING ERRCODE = 'insufficient_privilege';
     END IF;
     RETURN NULL;
   END
   $$`,
  // The feedback loop of triage: an analyst who closed a case as fraud may block what that case
  // involved (its user, or a counterparty, IP or device of its alerted transactions), nothing else.
  `CREATE FUNCTION aether_block_from_case(
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
     IF NOT (pg_has_role(session_user, 'aether_supervisor', 'USAGE')
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
  // Analyst administration. Only SCRAM verifiers are accepted, so no plain password ever reaches the
  // server or its statement log.
  `CREATE FUNCTION aether_add_analyst(p_login text, p_display_name text, p_role text, p_password_verifier text)
   RETURNS public.analysts
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     added public.analysts;
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
     IF p_password_verifier IS NULL
        OR p_password_verifier !~ '^SCRAM-SHA-256\\$[0-9]+:[A-Za-z0-9+/=]+\\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$' THEN
       RAISE EXCEPTION 'The password must arrive as a SCRAM-SHA-256 verifier, never in plain text'
         USING ERRCODE = 'invalid_password';
     END IF;
     IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_login) THEN
       RAISE EXCEPTION 'A database role named "%" already exists', p_login USING ERRCODE = 'duplicate_object';
     END IF;
     EXECUTE format('CREATE ROLE %I LOGIN INHERIT PASSWORD %L IN ROLE %I', p_login, p_password_verifier, 'aether_' || p_role);
     INSERT INTO public.analysts (login, display_name, role) VALUES (p_login, btrim(p_display_name), p_role)
     RETURNING * INTO added;
     RETURN added;
   END
   $$`,
  `CREATE FUNCTION aether_staff_groups_revoke(p_login text) RETURNS void
   LANGUAGE plpgsql ${SAFE_PATH} AS $$
   DECLARE
     grp text;
   BEGIN
     FOR grp IN
       SELECT g.rolname FROM pg_auth_members m
         JOIN pg_roles g ON g.oid = m.roleid
         JOIN pg_roles r ON r.oid = m.member
        WHERE r.rolname = p_login AND g.rolname = ANY (${STAFF_GROUPS})
     LOOP
       EXECUTE format('REVOKE %I FROM %I', grp, p_login);
     END LOOP;
   END
   $$`,
  // The groups an enabled analyst belongs to: their role's, and aether_ingest when their desk ingests.
  `CREATE FUNCTION aether_staff_groups_grant(p_analyst public.analysts) RETURNS void
   LANGUAGE plpgsql ${SAFE_PATH} AS $$
   BEGIN
     PERFORM public.aether_staff_groups_revoke(p_analyst.login);
     EXECUTE format('GRANT %I TO %I', 'aether_' || p_analyst.role, p_analyst.login);
     IF p_analyst.ingests THEN
       EXECUTE format('GRANT aether_ingest TO %I', p_analyst.login);
     END IF;
   END
   $$`,
  `CREATE FUNCTION aether_analyst_for_change(p_login text, p_self_allowed boolean DEFAULT false)
   RETURNS public.analysts
   LANGUAGE plpgsql ${SAFE_PATH} AS $$
   DECLARE
     target public.analysts;
   BEGIN
     SELECT * INTO target FROM public.analysts WHERE login = p_login FOR UPDATE;
     IF NOT FOUND THEN
       RAISE EXCEPTION 'There is no analyst "%"', p_login USING ERRCODE = 'no_data_found';
     END IF;
     IF p_login = session_user AND NOT p_self_allowed THEN
       RAISE EXCEPTION 'Administrators cannot disable or change their own account'
         USING ERRCODE = 'insufficient_privilege';
     END IF;
     RETURN target;
   END
   $$`,
  // Disabling takes the rights away three times over: no new logins, no group rights for a session
  // that slipped in, and every open session terminated (last, so the commit follows at once).
  `CREATE FUNCTION aether_disable_analyst(p_login text) RETURNS public.analysts
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     target public.analysts := public.aether_analyst_for_change(p_login);
   BEGIN
     EXECUTE format('ALTER ROLE %I NOLOGIN', p_login);
     PERFORM public.aether_staff_groups_revoke(p_login);
     UPDATE public.analysts SET disabled_at = coalesce(disabled_at, now()) WHERE id = target.id
     RETURNING * INTO target;
     PERFORM pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE usename = p_login AND pid <> pg_backend_pid();
     RETURN target;
   END
   $$`,
  `CREATE FUNCTION aether_enable_analyst(p_login text) RETURNS public.analysts
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     target public.analysts := public.aether_analyst_for_change(p_login);
   BEGIN
     EXECUTE format('ALTER ROLE %I LOGIN', p_login);
     UPDATE public.analysts SET disabled_at = NULL WHERE id = target.id RETURNING * INTO target;
     PERFORM public.aether_staff_groups_grant(target);
     RETURN target;
   END
   $$`,
  `CREATE FUNCTION aether_set_analyst_role(p_login text, p_role text) RETURNS public.analysts
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     target public.analysts := public.aether_analyst_for_change(p_login);
   BEGIN
     IF p_role IS NULL OR p_role NOT IN ('analyst', 'supervisor', 'admin') THEN
       RAISE EXCEPTION 'A role is analyst, supervisor or admin' USING ERRCODE = 'invalid_parameter_value';
     END IF;
     UPDATE public.analysts SET role = p_role WHERE id = target.id RETURNING * INTO target;
     IF target.disabled_at IS NULL THEN
       PERFORM public.aether_staff_groups_grant(target);
     END IF;
     RETURN target;
   END
   $$`,
  // Whether the analyst's workstation may run a pipeline worker (write transactions, scores, alerts).
  `CREATE FUNCTION aether_set_analyst_ingest(p_login text, p_ingests boolean) RETURNS public.analysts
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     target public.analysts := public.aether_analyst_for_change(p_login, true);
   BEGIN
     UPDATE public.analysts SET ingests = coalesce(p_ingests, false) WHERE id = target.id RETURNING * INTO target;
     IF target.disabled_at IS NULL THEN
       PERFORM public.aether_staff_groups_grant(target);
     END IF;
     RETURN target;
   END
   $$`,
]

const ADMIN_FUNCTIONS = [
  'aether_add_analyst(text, text, text, text)',
  'aether_disable_analyst(text)',
  'aether_enable_analyst(text)',
  'aether_set_analyst_role(text, text)',
  'aether_set_analyst_ingest(text, boolean)',
]
const INTERNAL_FUNCTIONS = [
  'aether_audit()',
  'aether_staff_groups_revoke(text)',
  'aether_staff_groups_grant(analysts)',
  'aether_analyst_for_change(text, boolean)',
]

const grants = [
  `REVOKE ALL ON FUNCTION ${[...ADMIN_FUNCTIONS, ...INTERNAL_FUNCTIONS, 'aether_block_from_case(bigint, text, text, text, timestamptz)'].join(', ')} FROM PUBLIC`,
  `GRANT EXECUTE ON FUNCTION ${ADMIN_FUNCTIONS.join(', ')} TO aether_admin`,
  `GRANT EXECUTE ON FUNCTION aether_block_from_case(bigint, text, text, text, timestamptz) TO aether_analyst`,
  `GRANT USAGE ON SCHEMA public TO aether_analyst, aether_ingest`,
  // The workstation checks the schema version on every connection.
  `GRANT SELECT ON kysely_migration TO aether_analyst, aether_ingest`,
  // Analysts read the whole picture; supervisors and admins inherit it.
  `GRANT SELECT ON transactions, scores, alerts, cases, case_events, rules, lists, analysts, audit_log TO aether_analyst`,
  `GRANT UPDATE (status, outcome, assignee_id, due_at, version, updated_at, closed_at) ON cases TO aether_analyst`,
  `GRANT UPDATE (priority) ON cases TO aether_supervisor`,
  `GRANT INSERT (case_id, action, before, after, note) ON case_events TO aether_analyst, aether_ingest`,
  `GRANT INSERT (entity, entity_id, case_id, action, before, after) ON audit_log TO aether_analyst, aether_ingest`,
  `GRANT INSERT (version, definition, comment) ON rules TO aether_admin`,
  `GRANT INSERT (kind, value, network, reason, expires_at), UPDATE (kind, value, network, reason, expires_at), DELETE
     ON lists TO aether_admin`,
  // Pipeline workers write the stream's results; they read rules, lists and cases.
  `GRANT SELECT, INSERT, UPDATE ON transactions, scores, alerts TO aether_ingest`,
  `GRANT SELECT ON cases TO aether_ingest`,
  `GRANT SELECT ON rules, lists TO aether_ingest`,
]

const policies = [
  `ALTER TABLE cases ENABLE ROW LEVEL SECURITY`,
  // Analysts see the queue they may triage (unassigned and their own) and the team's closed history.
  `CREATE POLICY cases_analyst_read ON cases FOR SELECT TO aether_analyst
     USING (assignee_id IS NULL OR assignee_id = (SELECT aether_current_analyst_id()) OR status = 'closed')`,
  `CREATE POLICY cases_analyst_triage ON cases FOR UPDATE TO aether_analyst
     USING (assignee_id IS NULL OR assignee_id = (SELECT aether_current_analyst_id()))
     WITH CHECK (assignee_id IS NULL OR assignee_id = (SELECT aether_current_analyst_id()))`,
  `CREATE POLICY cases_supervisor ON cases FOR ALL TO aether_supervisor USING (true) WITH CHECK (true)`,
  // Workers only read cases: an alert opens or joins its case through a SECURITY DEFINER trigger, so an
  // analyst whose desk ingests gains no power over colleagues' cases.
  `CREATE POLICY cases_ingest ON cases FOR SELECT TO aether_ingest USING (true)`,

  `ALTER TABLE case_events ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY case_events_read ON case_events FOR SELECT TO aether_analyst
     USING (EXISTS (SELECT 1 FROM cases c WHERE c.id = case_events.case_id))`,
  `CREATE POLICY case_events_analyst_append ON case_events FOR INSERT TO aether_analyst
     WITH CHECK (EXISTS (SELECT 1 FROM cases c WHERE c.id = case_events.case_id
                   AND (c.assignee_id IS NULL OR c.assignee_id = (SELECT aether_current_analyst_id()))))`,
  `CREATE POLICY case_events_supervisor_append ON case_events FOR INSERT TO aether_supervisor WITH CHECK (true)`,
  `CREATE POLICY case_events_ingest_append ON case_events FOR INSERT TO aether_ingest WITH CHECK (true)`,

  `ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY audit_log_analyst_read ON audit_log FOR SELECT TO aether_analyst
     USING (case_id IS NULL OR EXISTS (SELECT 1 FROM cases c WHERE c.id = audit_log.case_id))`,
  `CREATE POLICY audit_log_supervisor_read ON audit_log FOR SELECT TO aether_supervisor USING (true)`,
  `CREATE POLICY audit_log_append ON audit_log FOR INSERT TO aether_analyst, aether_ingest WITH CHECK (true)`,
]

const triggers = [
  `CREATE TRIGGER case_events_actor BEFORE INSERT ON case_events
     FOR EACH ROW EXECUTE FUNCTION aether_stamp_actor('actor', 'at')`,
  `CREATE TRIGGER audit_log_actor BEFORE INSERT ON audit_log
     FOR EACH ROW EXECUTE FUNCTION aether_stamp_actor('actor', 'at')`,
  `CREATE TRIGGER rules_author BEFORE INSERT ON rules
     FOR EACH ROW EXECUTE FUNCTION aether_stamp_actor('author', 'created_at')`,
  `CREATE TRIGGER lists_author BEFORE INSERT ON lists
     FOR EACH ROW EXECUTE FUNCTION aether_stamp_actor('created_by', 'created_at')`,
  `CREATE TRIGGER cases_audit AFTER INSERT OR UPDATE OR DELETE ON cases
     FOR EACH ROW EXECUTE FUNCTION aether_audit('id')`,
  `CREATE TRIGGER rules_audit AFTER INSERT OR UPDATE OR DELETE ON rules
     FOR EACH ROW EXECUTE FUNCTION aether_audit('version')`,
  `CREATE TRIGGER lists_audit AFTER INSERT OR UPDATE OR DELETE ON lists
     FOR EACH ROW EXECUTE FUNCTION aether_audit('id')`,
  `CREATE TRIGGER analysts_audit AFTER INSERT OR UPDATE OR DELETE ON analysts
     FOR EACH ROW EXECUTE FUNCTION aether_audit('id')`,
  `CREATE TRIGGER cases_bulk_close AFTER UPDATE ON cases
     REFERENCING OLD TABLE AS changed_before NEW TABLE AS changed_now
     FOR EACH STATEMENT EXECUTE FUNCTION aether_guard_bulk_close()`,
]

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of [...roles, ...auditLog, ...functions, ...grants, ...policies, ...triggers])
    await sql.raw(statement).execute(db)
}

/** Group roles stay: other databases of the cluster may use them. */
export async function down(db: Kysely<unknown>): Promise<void> {
  const statements = [
    ...['cases_bulk_close ON cases', 'analysts_audit ON analysts', 'lists_audit ON lists']
      .concat(['rules_audit ON rules', 'cases_audit ON cases', 'lists_author ON lists'])
      .concat(['rules_author ON rules', 'audit_log_actor ON audit_log', 'case_events_actor ON case_events'])
      .map((trigger) => `DROP TRIGGER ${trigger}`),
    `DROP POLICY cases_analyst_read ON cases`,
    `DROP POLICY cases_analyst_triage ON cases`,
    `DROP POLICY cases_supervisor ON cases`,
    `DROP POLICY cases_ingest ON cases`,
    `DROP POLICY case_events_read ON case_events`,
    `DROP POLICY case_events_analyst_append ON case_events`,
    `DROP POLICY case_events_supervisor_append ON case_events`,
    `DROP POLICY case_events_ingest_append ON case_events`,
    `ALTER TABLE cases DISABLE ROW LEVEL SECURITY`,
    `ALTER TABLE case_events DISABLE ROW LEVEL SECURITY`,
    `REVOKE ALL ON transactions, scores, alerts, cases, case_events, rules, lists, analysts, kysely_migration
       FROM aether_analyst, aether_supervisor, aether_admin, aether_ingest`,
    `DROP FUNCTION ${[...ADMIN_FUNCTIONS, ...INTERNAL_FUNCTIONS].join(', ')}`,
    `DROP FUNCTION aether_block_from_case(bigint, text, text, text, timestamptz), aether_guard_bulk_close(),
       aether_stamp_actor(), aether_acts_as(text), aether_current_analyst_id()`,
    `DROP TABLE audit_log`,
    `ALTER TABLE analysts DROP COLUMN ingests`,
    `ALTER TABLE case_events ALTER COLUMN actor SET DEFAULT current_user`,
    `ALTER TABLE rules ALTER COLUMN author SET DEFAULT current_user`,
    `ALTER TABLE lists ALTER COLUMN created_by SET DEFAULT current_user`,
  ]
  for (const statement of statements) await sql.raw(statement).execute(db)
}
