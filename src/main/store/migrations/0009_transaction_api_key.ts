import { sql, type Kysely } from 'kysely'

/**
 * Which Decision API key sent a transaction: the gateway writes the key's id in the stream entry's
 * `api_key` field (pipeline/decision-replies.ts) and the worker stores it with the transaction; NULL for
 * a transaction that came another way (a producer, a file replay, Local mode). No foreign key: a key's
 * row is never deleted (revoking sets revoked_at), and a per-row check would cost the ingest path a
 * probe per transaction. The table-level grants of 0002/0007 (ingest writes, analysts read) cover the
 * new column, so none are added.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw('ALTER TABLE transactions ADD COLUMN api_key_id bigint').execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw('ALTER TABLE transactions DROP COLUMN api_key_id').execute(db)
}
