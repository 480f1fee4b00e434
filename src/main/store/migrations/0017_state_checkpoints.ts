import { sql, type Kysely } from 'kysely'
import * as pipelineCommit from './0014_pipeline_commit'
import * as scoreOnTransaction from './0015_score_on_transaction'
import { runScript } from './script'

/**
 * Users' feature states written at checkpoints, not with every batch (issue 13: a state is rewritten
 * whole, up to ~2.7 kB on a mature store, each time its user has a transaction).
 *
 * A Team worker keeps the states it advances in memory and writes them every few seconds (a checkpoint,
 * in its own transaction beside the batches). pipeline_partitions says how far the stored states go:
 * state_position NULL means they are current up to `position`; otherwise they are current up to
 * state_position, and the transactions stored from the partition's entries after it that were stored
 * after state_at are still to be replayed into them: a new owner (or the same worker after a failure)
 * reads those entries again from the stream, which keeps them until a checkpoint covers them, and
 * advances the states without writing anything (src/main/pipeline/worker.ts).
 *
 * pipeline_commit_batch keeps its arguments and now returns the batch's time (its now(), every row's
 * ingested_at), which a checkpoint taken after the batch records as state_at. Called with states (even
 * none, '{}') it writes them and the states are current (a Local store, and a worker of an earlier
 * version, which always passes them); with NULL states it only moves the positions, and the states stay
 * current up to where they were.
 */

const UPDATE_0015 = `UPDATE pipeline_partitions p SET position = f.position, updated_at = now()`

/** A batch without states keeps where the states stand (the position before it, if they were current). */
const UPDATE_0017 = `UPDATE pipeline_partitions p SET position = f.position, updated_at = now(),
       state_position = CASE WHEN p_states IS NULL THEN coalesce(p.state_position, p.position, '0-0') END,
       state_at = CASE WHEN p_states IS NULL THEN p.state_at ELSE now() END`

const derived = (text: string, from: string, to: string) => {
  if (!text.includes(from))
    throw new Error("0017: 0015's pipeline_commit_batch is not the text this migration was written for")
  return text.replace(from, to)
}

const COMMIT_BATCH = [
  [UPDATE_0015, UPDATE_0017],
  [') RETURNS void LANGUAGE', ') RETURNS timestamptz LANGUAGE'],
  ['updated_at = now();\n   END\n', 'updated_at = now();\n     RETURN now();\n   END\n'],
].reduce((text, [from, to]) => derived(text, from as string, to as string), scoreOnTransaction.COMMIT_BATCH)

const GRANTS = [
  `REVOKE ALL ON FUNCTION ${pipelineCommit.SIGNATURE} FROM PUBLIC`,
  `DO $$
   BEGIN
     EXECUTE format('GRANT EXECUTE ON FUNCTION ${pipelineCommit.SIGNATURE} TO %I', aether_team_role('ingest'));
   END
   $$`,
]

/** The function again with another return type: dropped and created, its grant with it. */
async function replaceFunction(db: Kysely<unknown>, text: string) {
  await sql.raw(`DROP FUNCTION ${pipelineCommit.SIGNATURE}`).execute(db)
  await sql.raw(text).execute(db)
  for (const statement of GRANTS) await sql.raw(statement).execute(db)
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE pipeline_partitions
      ADD COLUMN state_position text,
      ADD COLUMN state_at timestamptz NOT NULL DEFAULT now();
  `,
  )
  await replaceFunction(db, COMMIT_BATCH)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await replaceFunction(db, scoreOnTransaction.COMMIT_BATCH)
  await runScript(db, 'ALTER TABLE pipeline_partitions DROP COLUMN state_position, DROP COLUMN state_at')
}
