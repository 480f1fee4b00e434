import { sql, type Kysely } from 'kysely'

/**
 * Less work per stored transaction (issue 13).
 *
 * scores_decision_score (decision, score DESC) was read by no query: the grid's review and block filters
 * walk alerts, its score sort and keyset paging use scores_score_txn (score DESC, txn_id DESC), and
 * approve, nearly every row, is never worth an index. Every score paid for its entry.
 *
 * user_features is updated in place once per user per batch; with full pages every update wrote its new
 * version on another page and a new primary-key entry. Pages kept half free let an update stay on its
 * page (a heap-only tuple: no index entry, the old version pruned with the page), at twice the table's size.
 * Pages written before this keep their fill until they are rewritten (VACUUM FULL or CLUSTER).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw('DROP INDEX scores_decision_score').execute(db)
  await sql.raw('ALTER TABLE user_features SET (fillfactor = 50)').execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw('ALTER TABLE user_features RESET (fillfactor)').execute(db)
  await sql.raw('CREATE INDEX scores_decision_score ON scores (decision, score DESC)').execute(db)
}
