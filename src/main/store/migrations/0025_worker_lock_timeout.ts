import { sql, type Kysely } from 'kysely'
import { SIGNATURE } from './0014_pipeline_commit'

/**
 * A worker never waits without limit for a lock. An admin may lock the tables they write (`LOCK TABLE
 * lists`, or `triage_settings`, which every alert's webhook trigger reads) in psql and leave the
 * transaction open; a batch needing the table then waited for as long as it was held, silently, and with
 * it every transaction of the partition and every Decision API caller waiting on them. The one-call
 * commit (0014) now gives up a lock wait after 10 s (55P03): the worker says in its status and log that a
 * lock holds it up, and retries. The COPY path and the checkpoints set the same in their own BEGIN
 * (pipeline/sink.ts, WORKER_LOCK_TIMEOUT). A later CREATE OR REPLACE of the function must keep the SET.
 */

export const WORKER_LOCK_TIMEOUT = '10s'

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`ALTER FUNCTION ${SIGNATURE} SET lock_timeout = '${WORKER_LOCK_TIMEOUT}'`).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`ALTER FUNCTION ${SIGNATURE} RESET lock_timeout`).execute(db)
}
