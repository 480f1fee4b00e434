import { sql, type Kysely } from 'kysely'
import { runScript } from './script'

/**
 * The ingest write path: every batch writes a row per transaction in transactions and scores and the
 * feature state of nearly as many users.
 *
 * A user's feature state is json, not jsonb: it is only ever written whole and read whole by the
 * pipeline, never queried inside, and json keeps the text as sent, where jsonb built a binary form of
 * every state in every batch (about 40% of what the state upsert cost).
 *
 * A score's reference to its transaction was a foreign key, whose check runs
 * once per row and locks the transaction's row (FOR KEY SHARE: a heap write and a WAL record each):
 * about half of what storing a score cost. The same rule is now checked once per statement, with
 * one anti-join over the inserted rows, and a deleted transaction still takes its score with it.
 *
 * What the key also gave and this does not: its row lock kept a transaction from being deleted while
 * a concurrent statement inserted its score. Nothing deletes transactions (no role but the owner may),
 * and a worker stores a transaction and its score in the same database transaction.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(
      `
    CREATE FUNCTION aether_scores_reference_transactions() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
    DECLARE
      missing uuid;
    BEGIN
      -- One primary-key probe per score: as NOT EXISTS the planner, blind to the transition table's
      -- size, read the whole transactions table for every statement.
      SELECT s.txn_id INTO missing FROM changed_scores s
        LEFT JOIN LATERAL (SELECT true AS stored FROM transactions t WHERE t.txn_id = s.txn_id LIMIT 1) t
          ON true
       WHERE t.stored IS NULL
       LIMIT 1;
      IF FOUND THEN
        RAISE EXCEPTION 'a score for transaction %, which is not stored', missing
          USING ERRCODE = 'foreign_key_violation', TABLE = 'scores';
      END IF;
      RETURN NULL;
    END
    $$`,
    )
    .execute(db)
  // As ON DELETE CASCADE did: with the owner's rights, whoever deletes the transaction.
  await sql
    .raw(
      `
    CREATE FUNCTION aether_transactions_delete_scores() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      DELETE FROM scores WHERE txn_id = ANY (ARRAY(SELECT txn_id FROM deleted_transactions));
      RETURN NULL;
    END
    $$`,
    )
    .execute(db)
  // TRUNCATE fires no delete trigger, and the key refused a TRUNCATE of transactions alone: the scores
  // go with them.
  await sql
    .raw(
      `
    CREATE FUNCTION aether_transactions_truncate_scores() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      TRUNCATE scores;
      RETURN NULL;
    END
    $$`,
    )
    .execute(db)
  // As the key's NO ACTION did: a transaction with a score keeps its id.
  await sql
    .raw(
      `
    CREATE FUNCTION aether_transactions_keep_scored_id() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      IF NEW.txn_id IS DISTINCT FROM OLD.txn_id AND EXISTS (SELECT 1 FROM scores WHERE txn_id = OLD.txn_id) THEN
        RAISE EXCEPTION 'transaction % has a score: its id cannot change', OLD.txn_id
          USING ERRCODE = 'foreign_key_violation', TABLE = 'transactions';
      END IF;
      RETURN NEW;
    END
    $$`,
    )
    .execute(db)
  await runScript(
    db,
    `
    ALTER TABLE user_features ALTER COLUMN state TYPE json USING state::json;
    ALTER TABLE scores DROP CONSTRAINT scores_txn_id_fkey;
    CREATE TRIGGER scores_reference_on_insert AFTER INSERT ON scores REFERENCING NEW TABLE AS changed_scores
      FOR EACH STATEMENT EXECUTE FUNCTION aether_scores_reference_transactions();
    CREATE TRIGGER scores_reference_on_update AFTER UPDATE ON scores REFERENCING NEW TABLE AS changed_scores
      FOR EACH STATEMENT EXECUTE FUNCTION aether_scores_reference_transactions();
    CREATE TRIGGER transactions_delete_scores AFTER DELETE ON transactions
      REFERENCING OLD TABLE AS deleted_transactions
      FOR EACH STATEMENT EXECUTE FUNCTION aether_transactions_delete_scores();
    CREATE TRIGGER transactions_truncate_scores AFTER TRUNCATE ON transactions
      FOR EACH STATEMENT EXECUTE FUNCTION aether_transactions_truncate_scores();
    CREATE TRIGGER transactions_keep_scored_id BEFORE UPDATE OF txn_id ON transactions
      FOR EACH ROW EXECUTE FUNCTION aether_transactions_keep_scored_id();
    REVOKE ALL ON FUNCTION aether_scores_reference_transactions(), aether_transactions_delete_scores(),
      aether_transactions_truncate_scores(), aether_transactions_keep_scored_id() FROM PUBLIC;
  `,
  )
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    DROP TRIGGER transactions_keep_scored_id ON transactions;
    DROP TRIGGER transactions_truncate_scores ON transactions;
    DROP TRIGGER transactions_delete_scores ON transactions;
    DROP TRIGGER scores_reference_on_update ON scores;
    DROP TRIGGER scores_reference_on_insert ON scores;
    DROP FUNCTION aether_transactions_keep_scored_id(), aether_transactions_truncate_scores(),
      aether_transactions_delete_scores(), aether_scores_reference_transactions();
    -- A score whose transaction is gone would refuse the key.
    DELETE FROM scores s WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.txn_id = s.txn_id);
    ALTER TABLE scores ADD CONSTRAINT scores_txn_id_fkey
      FOREIGN KEY (txn_id) REFERENCES transactions (txn_id) ON DELETE CASCADE;
    ALTER TABLE user_features ALTER COLUMN state TYPE jsonb USING state::jsonb;
  `,
  )
}
