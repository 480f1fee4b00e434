import { sql, type Kysely } from 'kysely'

/**
 * An admin may clear the team webhook. 0004 gave admins INSERT (key, value) and UPDATE (value) on
 * triage_settings and no DELETE, so "no webhook" (an empty field in Settings) was refused as if they
 * were not admins; only the schema's owner could stop the posts.
 */

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(
      `DO $$
       BEGIN
         EXECUTE format('GRANT DELETE ON triage_settings TO %I', aether_team_role('admin'));
       END
       $$`,
    )
    .execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(
      `DO $$
       BEGIN
         EXECUTE format('REVOKE DELETE ON triage_settings FROM %I', aether_team_role('admin'));
       END
       $$`,
    )
    .execute(db)
}
