import { sql, type Kysely } from 'kysely'
import { runScript } from './script'

/**
 * Workers hear at once that what they score with has changed: a list entry added, lifted or removed,
 * or a rule set saved. Without it a worker saw a change only at its next poll (every few seconds), so a
 * user blocked a moment ago could still get a transaction through unflagged.
 * NOTIFY is delivered on commit, and identical notifications of one transaction fold into one.
 */
export const SCORING_CHANNEL = 'aether_scoring'

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(
      `
    CREATE FUNCTION aether_notify_scoring_change() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
    BEGIN
      PERFORM pg_notify('${SCORING_CHANNEL}', TG_TABLE_NAME);
      RETURN NULL;
    END
    $$`,
    )
    .execute(db)
  await runScript(
    db,
    `
    CREATE TRIGGER lists_notify_scoring AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON lists
      FOR EACH STATEMENT EXECUTE FUNCTION aether_notify_scoring_change();
    CREATE TRIGGER rules_notify_scoring AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rules
      FOR EACH STATEMENT EXECUTE FUNCTION aether_notify_scoring_change();
    `,
  )
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    DROP TRIGGER rules_notify_scoring ON rules;
    DROP TRIGGER lists_notify_scoring ON lists;
    DROP FUNCTION aether_notify_scoring_change();
    `,
  )
}
