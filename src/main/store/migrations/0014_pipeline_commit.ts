import { sql, type Kysely } from 'kysely'

/**
 * A pipeline batch's commit in one round trip (issue 13: the Decision API waits for it).
 *
 * A small batch was BEGIN, the fenced INSERT of its transactions, the scores, alerts and states, COMMIT:
 * four round trips between the worker and its backend, each a pair of wake-ups on a busy machine (side by
 * side on one connection at load 8: 3.6 against 2.0 ms p50 for a one-row batch, 7.9 against 7.6 ms at 25
 * rows, where the rows' own work dominates). pipeline_commit_batch does the same writes in one call, in the
 * caller's statement: an autocommit call is one transaction, and a refusal rolls all of it back. Its two
 * outcomes other than success are errors with their own SQLSTATE, so nothing half done can commit:
 * AEFEN (a partition's epoch moved: another worker owns it) and AERED (some transactions were stored
 * already: the worker scores the batch again without them).
 *
 * Its parameters follow src/main/pipeline/sink-columns.ts (STORED_TRANSACTION_COLUMNS, SCORE_COLUMNS,
 * ALERT_COLUMNS); a column added there needs this function replaced by a migration of its own
 * (test/integration/store-schema.test.ts compares them). SECURITY INVOKER: the caller's own privileges
 * on every table apply, and only the ingest group may call it.
 */

const SAFE_PATH = 'SET search_path = pg_catalog, public, pg_temp'

/** The function's argument types, for DROP, REVOKE and GRANT (0015 and 0017 keep them). */
export const SIGNATURE = `pipeline_commit_batch(text, int[], bigint[], text[], uuid[], timestamptz[], text[], text[],
  text[], numeric[], text[], text[], inet[], text[], numeric[], numeric[], numeric[], numeric[], boolean[],
  bigint[], smallint[], text[], jsonb[], text[], int[], json, text)`

const statements = [
  `CREATE FUNCTION pipeline_commit_batch(
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
                                 cp_balance_after, label, api_key_id)
       SELECT * FROM unnest(p_txn_id, p_ts, p_user_id, p_counterparty_id, p_type, p_amount, p_currency,
                            p_merchant_type, p_source_ip, p_device_id, p_balance_before, p_balance_after,
                            p_cp_balance_before, p_cp_balance_after, p_label, p_api_key_id)
       ON CONFLICT (txn_id) DO NOTHING;
       GET DIAGNOSTICS changed = ROW_COUNT;
       IF changed <> wanted THEN
         RAISE EXCEPTION 'Some transactions of the batch were stored already' USING ERRCODE = 'AERED';
       END IF;
       INSERT INTO scores (txn_id, score, decision, reasons, model_version, rules_version)
       SELECT * FROM unnest(p_txn_id, p_score, p_decision, p_reasons, p_model_version, p_rules_version);
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
   $$`,
  `REVOKE ALL ON FUNCTION ${SIGNATURE} FROM PUBLIC`,
  `DO $$
   BEGIN
     EXECUTE format('GRANT EXECUTE ON FUNCTION ${SIGNATURE} TO %I', aether_team_role('ingest'));
   END
   $$`,
]

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`DROP FUNCTION ${SIGNATURE}`).execute(db)
}
