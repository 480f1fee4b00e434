import { sql, type Kysely } from 'kysely'

/**
 * Users' feature states compressed with lz4 where the server has it (issue 13: the soak).
 *
 * A state grows with its user's history up to the scorer's bounds (512 recent transactions, 256 recent
 * counterparties, devices and IPs): on the bench's generated traffic the state written per transaction
 * is ~350 bytes after 100,000 transactions and ~2,300 after 2.5 million. Past about 2 kB PostgreSQL
 * compresses a row's values (TOAST), with pglz by default, and every batch rewrites every touched
 * user's state: measured on states grown by 2.5 million transactions, 70 µs a transaction to write the
 * states with pglz against 38 with lz4 (under 350 bytes, where neither runs, 14 and 12). The column's
 * method applies to values written from now on; every state is rewritten with its user's next batch.
 * A server built without lz4 (PGlite) keeps pglz.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(
      `DO $$
   BEGIN
     IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
       ALTER TABLE user_features ALTER COLUMN state SET COMPRESSION lz4;
     END IF;
   END
   $$`,
    )
    .execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw('ALTER TABLE user_features ALTER COLUMN state SET COMPRESSION default').execute(db)
}
