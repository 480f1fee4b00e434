import { sql, type Kysely } from 'kysely'

/**
 * API keys for the Decision API gateway (`aether gateway`). A key is `aek_<id>_<secret>`, the secret 32
 * random bytes (base64url); only the SHA-256 of the secret is stored. The gateway finds the row by id and
 * compares the hashes in constant time, so no lookup ever depends on the secret's bytes.
 *
 * Admins create, revoke and list keys through SECURITY DEFINER functions (as with analysts); nobody
 * else reads the table except the ingest group, which the gateway connects as: it reads what checking a
 * key needs and records when a key was last used. A revocation NOTIFYs `aether_api_keys` (the key id) so
 * every gateway drops it from its cache at once; their short cache TTL covers a lost notification.
 *
 * Which key sent a transaction travels in the stream entry's `api_key` field; storing it with the
 * transaction is a later step (it needs the sink's COPY path to carry one more column).
 * The ingest group may also read the alerts id sequence's position, for the gateway's decisions feed.
 * Grants go to this database's groups (0007), never to the cluster-wide aether_* roles.
 */
export const API_KEYS_CHANNEL = 'aether_api_keys'

const SAFE_PATH = 'SET search_path = pg_catalog, public, pg_temp'

const statements = [
  `CREATE TABLE api_keys (
     id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     name          text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
     hash          bytea NOT NULL CHECK (length(hash) = 32),
     scopes        text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['submit', 'read']::text[]),
     created_by    text NOT NULL DEFAULT session_user,
     created_at    timestamptz NOT NULL DEFAULT now(),
     revoked_at    timestamptz,
     last_used_at  timestamptz
   )`,
  // A name names one live key; a revoked key's name may be used again.
  `CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL`,
  `CREATE FUNCTION aether_add_api_key(p_name text, p_scopes text[], p_hash bytea)
   RETURNS TABLE (id bigint, name text, scopes text[], created_by text, created_at timestamptz)
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   BEGIN
     IF p_name IS NULL OR p_name !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
       RAISE EXCEPTION 'A key name is 1 to 63 letters, digits, _ . or -, starting with a letter or digit'
         USING ERRCODE = 'invalid_parameter_value';
     END IF;
     IF p_scopes IS NULL OR cardinality(p_scopes) = 0 OR NOT p_scopes <@ ARRAY['submit', 'read']::text[] THEN
       RAISE EXCEPTION 'The scopes are submit, read or both' USING ERRCODE = 'invalid_parameter_value';
     END IF;
     IF p_hash IS NULL OR length(p_hash) <> 32 THEN
       RAISE EXCEPTION 'The key must arrive as its SHA-256 hash, never in plain text'
         USING ERRCODE = 'invalid_parameter_value';
     END IF;
     IF EXISTS (SELECT 1 FROM public.api_keys k WHERE k.name = p_name AND k.revoked_at IS NULL) THEN
       RAISE EXCEPTION 'A key named "%" exists; revoke it first or choose another name', p_name
         USING ERRCODE = 'unique_violation';
     END IF;
     RETURN QUERY
       INSERT INTO public.api_keys AS k (name, scopes, hash, created_by)
       VALUES (p_name, ARRAY(SELECT DISTINCT s FROM unnest(p_scopes) s ORDER BY 1), p_hash, session_user)
       RETURNING k.id, k.name, k.scopes, k.created_by, k.created_at;
   END
   $$`,
  `CREATE FUNCTION aether_revoke_api_key(p_name text)
   RETURNS TABLE (id bigint, name text, revoked_at timestamptz)
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     revoked_id bigint;
   BEGIN
     UPDATE public.api_keys k SET revoked_at = now()
      WHERE k.name = p_name AND k.revoked_at IS NULL
     RETURNING k.id INTO revoked_id;
     IF revoked_id IS NULL THEN
       RAISE EXCEPTION 'There is no live key named "%"', p_name USING ERRCODE = 'no_data_found';
     END IF;
     PERFORM pg_notify('${API_KEYS_CHANNEL}', revoked_id::text);
     RETURN QUERY SELECT k.id, k.name, k.revoked_at FROM public.api_keys k WHERE k.id = revoked_id;
   END
   $$`,
  `CREATE FUNCTION aether_list_api_keys()
   RETURNS TABLE (id bigint, name text, scopes text[], created_by text, created_at timestamptz,
                  revoked_at timestamptz, last_used_at timestamptz)
   LANGUAGE sql STABLE SECURITY DEFINER ${SAFE_PATH} AS $$
     SELECT k.id, k.name, k.scopes, k.created_by, k.created_at, k.revoked_at, k.last_used_at
       FROM public.api_keys k ORDER BY k.revoked_at IS NOT NULL, k.name, k.id
   $$`,
  `REVOKE ALL ON FUNCTION aether_add_api_key(text, text[], bytea), aether_revoke_api_key(text),
     aether_list_api_keys() FROM PUBLIC`,
  `DO $$
  BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION aether_add_api_key(text, text[], bytea), aether_revoke_api_key(text), aether_list_api_keys() TO %I',
                   aether_team_role('admin'));
    EXECUTE format('GRANT SELECT (id, name, hash, scopes, revoked_at), UPDATE (last_used_at) ON api_keys TO %I',
                   aether_team_role('ingest'));
    -- The decisions feed reads how far alert ids have been handed out (pipeline/decision-feed.ts).
    EXECUTE format('GRANT SELECT ON SEQUENCE %s TO %I', pg_get_serial_sequence('public.alerts', 'id'),
                   aether_team_role('ingest'));
  END
  $$`,
]

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    'DROP FUNCTION aether_list_api_keys()',
    'DROP FUNCTION aether_revoke_api_key(text)',
    'DROP FUNCTION aether_add_api_key(text, text[], bytea)',
    'DROP TABLE api_keys',
  ])
    await sql.raw(statement).execute(db)
}
