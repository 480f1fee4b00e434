import { sql, type Kysely } from 'kysely'
import * as pipelineCommit from './0014_pipeline_commit'
import { runScript } from './script'

/**
 * A transaction's score and decision on its own row (issue 13: the ingest path's cost per transaction).
 *
 * Every stored transaction was two rows: the transaction, and its score in `scores` (its primary key, its
 * score index, 0005's statement triggers keeping the two in step). The score columns now live on the
 * transaction's row, written with it by the same COPY or INSERT: one heap row, one primary key and one
 * statement per transaction fewer (measured by bench:ingest's breakdown, see README "Performance").
 * `scores` stays as a view of the scored transactions with the columns it had, so what reads it (the
 * gateway's reads, the analysts' queries, reports) reads the same rows; scored_at is the transaction's
 * ingested_at, as both were the storing transaction's now(). The view is security_invoker: a login reads
 * through it only what it may read of transactions. A score is written with its transaction only: the
 * view is granted for reading only, and refuses writes even from its owner (a plain view of one table
 * would pass an INSERT, UPDATE or DELETE on to transactions: a DELETE FROM scores would delete them).
 *
 * A transaction stored without a score (a test's or a migration's row) has all five columns null;
 * a score is whole or absent. transactions_score_txn serves the grid's score sort and keyset paging
 * (as scores_score_txn did). pipeline_commit_batch (0014) keeps its signature and writes the score
 * columns with the transaction. On a big store this migration rewrites every transaction row once.
 */

const SAFE_PATH = 'SET search_path = pg_catalog, public, pg_temp'

/** pipeline_commit_batch as 0015 leaves it (0017 derives its own from this text). */
export const COMMIT_BATCH = `CREATE OR REPLACE FUNCTION pipeline_commit_batch(
     p_source text, p_partitions int[], p_epochs bigint[], p_positions text[],
     p_txn_id uuid[], p_ts timestamptz[], p_user_id text[], p_counterparty_id text[], p_type text[],
     p_amount numeric[], p_currency text[], p_merchant_type text[], p_source_ip inet[], p_device_id text[],
     p_balance_before numeric[], p_balance_after numeric[], p_cp_balance_before numeric[],
     p_cp_balance_after numeric[], p_label boolean[], p_api_key_id bigint[],
     p_score smallint[], p_decision text[], p_reasons jsonb[], p_model_version text[], p_rules_version int[],
     p_states json, p_states_model text
   ) RETURNS void LANGUAGE plpgsql ${SAFE_PATH} AS $$
   DECLARE
     changed bigint;
     wanted bigint;
   BEGIN
     UPDATE pipeline_partitions p SET position = f.position, updated_at = now()
       FROM unnest(p_partitions, p_epochs, p_positions) AS f(partition, epoch, position)
      WHERE p.source = p_source AND p.partition = f.partition AND p.epoch = f.epoch;
     GET DIAGNOSTICS changed = ROW_COUNT;
     IF changed <> coalesce(cardinality(p_partitions), 0) THEN
       RAISE EXCEPTION 'Another worker has taken a partition of this batch over' USING ERRCODE = 'AEFEN';
     END IF;
     wanted := coalesce(cardinality(p_txn_id), 0);
     IF wanted > 0 THEN
       INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency, merchant_type,
                                 source_ip, device_id, balance_before, balance_after, cp_balance_before,
                                 cp_balance_after, label, api_key_id, score, decision, reasons, model_version,
                                 rules_version)
       SELECT * FROM unnest(p_txn_id, p_ts, p_user_id, p_counterparty_id, p_type, p_amount, p_currency,
                            p_merchant_type, p_source_ip, p_device_id, p_balance_before, p_balance_after,
                            p_cp_balance_before, p_cp_balance_after, p_label, p_api_key_id, p_score,
                            p_decision, p_reasons, p_model_version, p_rules_version)
       ON CONFLICT (txn_id) DO NOTHING;
       GET DIAGNOSTICS changed = ROW_COUNT;
       IF changed <> wanted THEN
         RAISE EXCEPTION 'Some transactions of the batch were stored already' USING ERRCODE = 'AERED';
       END IF;
       INSERT INTO alerts (txn_id, score, decision, reasons)
       SELECT a.txn_id, a.score, a.decision, a.reasons
         FROM unnest(p_txn_id, p_score, p_decision, p_reasons) AS a(txn_id, score, decision, reasons)
        WHERE a.decision <> 'approve';
     END IF;
     INSERT INTO user_features (user_id, state, model_version)
     SELECT key, value, p_states_model FROM json_each(p_states)
     ON CONFLICT (user_id) DO UPDATE
       SET state = EXCLUDED.state, model_version = EXCLUDED.model_version, updated_at = now();
   END
   $$`

/** Writes through the view are refused: PostgreSQL would otherwise pass them on to transactions. */
const READ_ONLY = [
  `CREATE FUNCTION aether_scores_read_only() RETURNS trigger LANGUAGE plpgsql ${SAFE_PATH} AS $$
   BEGIN
     RAISE EXCEPTION 'scores is read-only: a score is written with its transaction'
       USING ERRCODE = 'insufficient_privilege', TABLE = 'scores';
   END
   $$`,
  `CREATE TRIGGER scores_read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON scores
     FOR EACH ROW EXECUTE FUNCTION aether_scores_read_only()`,
  `REVOKE ALL ON FUNCTION aether_scores_read_only() FROM PUBLIC`,
]

const VIEW_GRANTS = `DO $$
   BEGIN
     EXECUTE format('GRANT SELECT ON scores TO %I, %I', aether_team_role('analyst'), aether_team_role('ingest'));
   END
   $$`

export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE transactions
      ADD COLUMN score smallint CHECK (score BETWEEN 0 AND 100),
      ADD COLUMN decision text CHECK (decision IN ('approve', 'review', 'block')),
      ADD COLUMN reasons jsonb,
      ADD COLUMN model_version text,
      ADD COLUMN rules_version integer,
      ADD CONSTRAINT transactions_score_whole CHECK (
        score IS NULL AND decision IS NULL AND reasons IS NULL AND model_version IS NULL AND rules_version IS NULL
        OR score IS NOT NULL AND decision IS NOT NULL AND reasons IS NOT NULL AND model_version IS NOT NULL
           AND rules_version IS NOT NULL);
    UPDATE transactions t
       SET score = s.score, decision = s.decision, reasons = s.reasons, model_version = s.model_version,
           rules_version = s.rules_version
      FROM scores s WHERE s.txn_id = t.txn_id;
    DROP TRIGGER transactions_keep_scored_id ON transactions;
    DROP TRIGGER transactions_truncate_scores ON transactions;
    DROP TRIGGER transactions_delete_scores ON transactions;
    DROP TABLE scores;
    DROP FUNCTION aether_transactions_keep_scored_id(), aether_transactions_truncate_scores(),
      aether_transactions_delete_scores(), aether_scores_reference_transactions();
    CREATE INDEX transactions_score_txn ON transactions (score DESC, txn_id DESC);
    CREATE VIEW scores WITH (security_invoker = true) AS
      SELECT txn_id, score, decision, reasons, model_version, rules_version, ingested_at AS scored_at
        FROM transactions WHERE score IS NOT NULL;
  `,
  )
  for (const statement of READ_ONLY) await sql.raw(statement).execute(db)
  await sql.raw(VIEW_GRANTS).execute(db)
  await sql.raw(COMMIT_BATCH).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    DROP VIEW scores;
    DROP FUNCTION aether_scores_read_only();
    CREATE TABLE scores (
      txn_id         uuid PRIMARY KEY,
      score          smallint NOT NULL CHECK (score BETWEEN 0 AND 100),
      decision       text NOT NULL CHECK (decision IN ('approve', 'review', 'block')),
      reasons        jsonb NOT NULL DEFAULT '[]',
      model_version  text NOT NULL,
      rules_version  integer NOT NULL,
      scored_at      timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO scores
      SELECT txn_id, score, decision, reasons, model_version, rules_version, ingested_at
        FROM transactions WHERE score IS NOT NULL;
    CREATE INDEX scores_score_txn ON scores (score DESC, txn_id DESC);
    ALTER TABLE scores ADD CONSTRAINT scores_txn_id_fkey
      FOREIGN KEY (txn_id) REFERENCES transactions (txn_id) ON DELETE CASCADE;
    DROP INDEX transactions_score_txn;
    ALTER TABLE transactions DROP CONSTRAINT transactions_score_whole, DROP COLUMN score, DROP COLUMN decision,
      DROP COLUMN reasons, DROP COLUMN model_version, DROP COLUMN rules_version;
  `,
  )
  await sql
    .raw(
      `DO $$
   BEGIN
     EXECUTE format('GRANT SELECT ON scores TO %I', aether_team_role('analyst'));
     EXECUTE format('GRANT SELECT, INSERT, UPDATE ON scores TO %I', aether_team_role('ingest'));
   END
   $$`,
    )
    .execute(db)
  // 0005's statement triggers are not restored: the foreign key keeps the same rule, at its old cost
  // (nothing goes further down: 0007 cannot be undone).
  // 0014's own function again (its grant to the ingest group with it).
  await sql.raw('DROP FUNCTION pipeline_commit_batch').execute(db)
  await pipelineCommit.up(db)
}
