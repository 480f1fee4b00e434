import { sql, type Kysely } from 'kysely'

/**
 * Room on each page of user_features for its rows' next versions (issue 13: the checkpoints' share of
 * the latency).
 *
 * A checkpoint rewrites the state of every user advanced since the last one, thousands of rows at a
 * time. With full pages (fillfactor 100, the default) nearly every rewrite goes to another page, so each
 * one adds a primary-key entry and the table grows until a vacuum; with room left on the page the new
 * version stays beside the old one (a heap-only update: no index entry, the old version pruned in place).
 * Measured here on 2,000 states of ~300 bytes rewritten twelve times: 21.5 ms a rewrite at 100 against
 * 16.0 at 70, 3% against 93% heap-only, the table 10.7 MB against 2.0 MB.
 *
 * Pages written from now on keep the room; the pages already full fill up again only as their rows move
 * (`VACUUM FULL user_features` rewrites them all at once, holding the table meanwhile).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw('ALTER TABLE user_features SET (fillfactor = 70)').execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw('ALTER TABLE user_features RESET (fillfactor)').execute(db)
}
