import type { Kysely } from 'kysely'
import { runScript } from './script'

/**
 * The ingestion engine's state. user_features holds each user's feature state, written in the same
 * transaction as that user's transactions, so whichever worker owns the user next continues from it.
 * pipeline_partitions fences the writers: a worker taking a partition over raises its epoch, and a
 * batch commits only while its epoch is still the partition's, so a worker that lost a partition (a
 * pause, a network split) can never write behind its successor. position is the last committed
 * stream entry id, or line of a file replay, which lets a replay resume where it stopped.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE user_features (
      user_id        text PRIMARY KEY,
      state          jsonb NOT NULL,
      model_version  text NOT NULL,
      updated_at     timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE pipeline_partitions (
      source      text NOT NULL,
      partition   integer NOT NULL CHECK (partition >= 0),
      epoch       bigint NOT NULL DEFAULT 0,
      owner       text,
      position    text,
      updated_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (source, partition)
    );
  `,
  )
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runScript(db, 'DROP TABLE pipeline_partitions, user_features')
}
