import { sql, type Kysely } from 'kysely'

/**
 * What analysts may know of the Decision API keys: which key sent a transaction (transactions.api_key_id,
 * 0009), by name. They may not read api_keys itself (its hashes and scopes are the admins' and the
 * gateways' business, 0008), so a view of id, name and whether the key is revoked is theirs to read. The
 * view runs with its owner's rights, so no grant on the table is needed; a join from transactions to it
 * costs one primary-key probe per row shown. Grants go to this database's analyst group (0007), which
 * supervisors and admins belong to.
 */
const statements = [
  `CREATE VIEW api_key_names AS
     SELECT id, name, revoked_at IS NOT NULL AS revoked FROM api_keys`,
  `COMMENT ON VIEW api_key_names IS 'Aether: the Decision API keys by name, for analysts (no hash, no scopes)'`,
  `REVOKE ALL ON api_key_names FROM PUBLIC`,
  `DO $$
  BEGIN
    EXECUTE format('GRANT SELECT ON api_key_names TO %I', aether_team_role('analyst'));
  END
  $$`,
]

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw('DROP VIEW api_key_names').execute(db)
}
