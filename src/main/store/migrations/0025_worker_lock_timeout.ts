import { sql, type Kysely } from 'kysely'
import { SIGNATURE } from './0014_pipeline_commit'

/**
 * A worker never waits without limit for a lock. A login may lock the tables it writes and leave the
 * transaction open (an admin's `LOCK TABLE lists` or `triage_settings`, which every alert's webhook
 * trigger reads; a desk that ingests, `user_features`); the worker then waited for as long as it was
 * held, silently, and with it every transaction of the partition and every Decision API caller waiting
 * on them. The one-call commit (0014) now gives up a lock wait after 10 s (55P03), whoever calls it; the
 * worker's own connections set the same for everything they run (pipeline/team.ts), the COPY path and
 * the checkpoints in their BEGIN too (pipeline/sink.ts), and its lists and rules reads wait 1 s at most
 * (pipeline/rules-source.ts). The worker says in its status and log that a lock holds it up, and
 * retries. A later CREATE OR REPLACE of the function must keep the SET.
 */

export const WORKER_LOCK_TIMEOUT = '10s'

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`ALTER FUNCTION ${SIGNATURE} SET lock_timeout = '${WORKER_LOCK_TIMEOUT}'`).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`ALTER FUNCTION ${SIGNATURE} RESET lock_timeout`).execute(db)
}
