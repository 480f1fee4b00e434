import { finished } from 'node:stream/promises'
import { CompiledQuery } from 'kysely'
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import type { Score, Transaction } from '../../shared/transaction'
import { unpackUserState, type UserState } from '../scoring'
import type { StoreDb } from '../store/schema'
import { WORKER_LOCK_TIMEOUT } from '../store/migrations/0025_worker_lock_timeout'
import type { Store } from '../store/store'
import {
  ALERT_COLUMNS,
  arrayParameters,
  columnArrays,
  columnLiterals,
  columnNames,
  copyText,
  STORED_TRANSACTION_COLUMNS,
  TRANSACTION_COLUMNS,
} from './sink-columns'

/**
 * The pipeline's side of the store. A batch goes in ONE transaction: the partition fences, the
 * transactions with their scores on their rows (0015), their alerts, and in Local mode the users' feature
 * states (one JSON object of their stored forms, src/main/scoring/state-codec.ts, split by json_each); a
 * Team worker writes the states at checkpoints instead, in their own transactions (checkpoint, 0017). On
 * PostgreSQL, given the writer's pool, a big batch's transactions go in by COPY straight into their
 * table: a transaction stored already breaks the primary key, which aborts the batch, and that is the
 * redelivered outcome. Small batches, PGlite and a store without a pool send the
 * rows as one array per column to pipeline_commit_batch (0014), one call, whose unnest() with ON CONFLICT
 * tells the duplicates.
 */

export interface PartitionFence {
  partition: number
  epoch: number
  /** The last stream entry id (or file line) in the batch, recorded with it. */
  position: string
}

export interface ScoredRow {
  txn: Transaction
  score: Score
  /** The Decision API key that sent it (the entry's api_key field, canonical digits), if one did. */
  apiKeyId?: string | undefined
}

export interface BatchWrite {
  fences: PartitionFence[]
  rows: ScoredRow[]
  /**
   * A checkpoint: the state of every user advanced since the last one, as JSON taken when the batch was
   * scored (the scorer advances states in place, and the next batch is scored while this one commits);
   * the stored states are then current up to the batch's positions. Either one JSON text per user, or
   * the whole object at once (StatesDocument), which costs the worker one JSON.stringify. Undefined: not
   * a checkpoint, the stored states stay as they are (0017).
   */
  states?: Map<string, string> | StatesDocument | undefined
  modelVersion: string
}

/** The users' states as one JSON object, user id → state, and how many users it holds. */
export interface StatesDocument {
  json: string
  users: number
}

/** A checkpoint's writes: see PipelineStore.checkpoint. */
export interface CheckpointWrite {
  fences: PartitionFence[]
  states: StatesDocument
  at: string | null
  modelVersion: string
}

/** How far a partition's stored states go: see PipelineStore.checkpoints. */
export interface PartitionCheckpoint {
  position: string | null
  statePosition: string | null
  stateAt: string | null
}

/** A row to try on its own: the transaction, its score and its user's state after it (JSON). */
export interface ProbeRow extends ScoredRow {
  state: string
}

/** A transaction stored already: its fields as stored (text), and those that differ from a new entry's. */
export interface StoredVersion {
  differs: string[]
  stored: Record<string, string | boolean | null>
}

/**
 * committed: everything written. fenced: another worker has taken one of the partitions over, nothing
 * written. redelivered: some transactions were already stored (a redelivery or a producer's retry), nothing
 * written: the caller re-scores without them so no state counts a transaction twice.
 */
export type CommitOutcome = 'committed' | 'fenced' | 'redelivered'

/** A row the database refused for its content (not for being a duplicate): the entry is a dead letter. */
export class RowRejectedError extends Error {
  /** Entries of the refused batch, set by the worker. */
  entries: number | undefined
  constructor(
    message: string,
    override readonly cause: unknown,
  ) {
    super(message)
    this.name = 'RowRejectedError'
  }
}

const run = async <R>(db: StoreDb, text: string, params: readonly unknown[] = []): Promise<R[]> =>
  (await db.executeQuery<R>(CompiledQuery.raw(text, params as unknown[]))).rows

const TRANSACTIONS = columnNames(TRANSACTION_COLUMNS)
/** The transactions' content as unnest()'s arrays from $1 (columnArrays builds them). */
const TRANSACTION_ARRAYS = arrayParameters(TRANSACTION_COLUMNS, 1)
/** Every column a stored transaction is written with. */
const STORED_TRANSACTIONS = columnNames(STORED_TRANSACTION_COLUMNS)

const LOAD_STATES = 'SELECT user_id, state FROM user_features WHERE user_id = ANY($1::text[])'

/** Compared as stored: an identical redelivery is a duplicate, anything else a conflicting one. */
const COMPARED = TRANSACTION_COLUMNS.filter((column) => column.name !== 'txn_id')

const differsWhen = COMPARED.map(
  ({ name }) => `CASE WHEN t.${name} IS DISTINCT FROM e.${name} THEN '${name}' END`,
)
// A boolean stays one in the JSON; everything else is compared as the store writes it out.
const storedAsText = COMPARED.map(
  ({ name, type }) => `'${name}', t.${name}${type === 'boolean' ? '' : '::text'}`,
)

const STORED_VERSIONS = `
SELECT e.i, array_remove(ARRAY[${differsWhen.join(', ')}], NULL) AS differs,
       json_build_object(${storedAsText.join(', ')}) AS stored
  FROM unnest(${TRANSACTION_ARRAYS}) WITH ORDINALITY AS e(${TRANSACTIONS}, i)
  JOIN transactions t ON t.txn_id = e.txn_id`

/**
 * Partitions whose users' stored states do not yet count every stored transaction (0017): a Team worker
 * writes them at its next checkpoint. Counted as `n`.
 */
export const STATES_BEHIND = `SELECT count(*)::int AS n FROM pipeline_partitions
  WHERE state_position IS NOT NULL AND state_position IS DISTINCT FROM position`

/** STORED_VERSIONS of the rows stored after a time (the parameter after the arrays). */
const STORED_SINCE = `${STORED_VERSIONS}
 WHERE t.ingested_at > $${TRANSACTION_COLUMNS.length + 1}::timestamptz`

/**
 * Moves the fenced partitions' positions, only where the epoch is still the batch's: $1 to $4. With $5
 * (a checkpoint: the batch writes every state advanced since the last one) the states are current up to
 * the new positions; without, they stay where they stood (0017).
 */
const FENCE = `
UPDATE pipeline_partitions p SET position = f.position, updated_at = now(),
       state_position = CASE WHEN $5 THEN NULL ELSE coalesce(p.state_position, p.position, '0-0') END,
       state_at = CASE WHEN $5 THEN now() ELSE p.state_at END
  FROM unnest($1::int[], $2::bigint[], $3::text[]) AS f(partition, epoch, position)
 WHERE p.source = $4 AND p.partition = f.partition AND p.epoch = f.epoch
RETURNING now()::text AS at`

/** A checkpoint's record of how far the states go ($1 to $4 as FENCE's; $5 their time, null: now). */
const CHECKPOINT = `
UPDATE pipeline_partitions p SET state_position = f.position, state_at = coalesce($5::timestamptz, now())
  FROM unnest($1::int[], $2::bigint[], $3::text[]) AS f(partition, epoch, position)
 WHERE p.source = $4 AND p.partition = f.partition AND p.epoch = f.epoch`

/**
 * A batch or checkpoint gives up a lock wait after WORKER_LOCK_TIMEOUT (0025): a table an admin keeps
 * locked shows as the worker's error and is retried, where it held the worker silently without end.
 */
const BEGIN_WORKER = `BEGIN; SET LOCAL lock_timeout = '${WORKER_LOCK_TIMEOUT}'`

/** FENCE's parameters. */
export const fenceParameters = (
  fences: readonly PartitionFence[],
  source: string,
  checkpoint = true,
): unknown[] => [
  fences.map((fence) => fence.partition),
  fences.map((fence) => fence.epoch),
  fences.map((fence) => fence.position),
  source,
  checkpoint,
]

/**
 * A small batch's whole commit, one call in its own transaction (0014, 0015): the fences ($1 to $4), the
 * scored transactions, their alerts, then the users' states. Refused as a whole with SQLSTATE AEFEN
 * (fenced) or AERED (some were stored already).
 */
const COMMIT_BATCH = (() => {
  const states = 5 + STORED_TRANSACTION_COLUMNS.length
  return `SELECT pipeline_commit_batch($1::text, $2::int[], $3::bigint[], $4::text[],
  ${arrayParameters(STORED_TRANSACTION_COLUMNS, 5)}, $${states}::json, $${states + 1}::text)::text AS at`
})()

/** The outcome a refusal of pipeline_commit_batch stands for. */
const OUTCOMES: Record<string, CommitOutcome> = { AEFEN: 'fenced', AERED: 'redelivered' }

/** The feature states as one JSON object: user id → state. */
const statesDocument = (states: Map<string, string> | StatesDocument): string => {
  if (!(states instanceof Map)) return states.json
  const members: string[] = []
  for (const [user, state] of states) members.push(`${JSON.stringify(user)}:${state}`)
  return `{${members.join(',')}}`
}

const stateCount = (states: Map<string, string> | StatesDocument) =>
  states instanceof Map ? states.size : states.users

/** Writes the users' states from the JSON object (statesDocument) in `$document`, with `$model`. */
const upsertStates = (document: number, model: number) => `
INSERT INTO user_features (user_id, state, model_version)
SELECT key, value, $${model} FROM json_each($${document}::json)
ON CONFLICT (user_id) DO UPDATE
  SET state = EXCLUDED.state, model_version = EXCLUDED.model_version, updated_at = now()`

const UPSERT_STATES = upsertStates(1, 2)

const COPY_TRANSACTIONS = `COPY transactions (${STORED_TRANSACTIONS}) FROM STDIN`

const INSERT_ALERTS = `
INSERT INTO alerts (${columnNames(ALERT_COLUMNS)})
SELECT * FROM unnest(${arrayParameters(ALERT_COLUMNS, 1)})`

/**
 * A big batch's statements, in the order commitByCopy runs them in its transaction (before COMMIT):
 * bench:ingest's breakdown times each one (scripts/bench-ingest-breakdown.ts).
 */
export const COPY_PATH = {
  fence: FENCE,
  transactions: COPY_TRANSACTIONS,
  alerts: INSERT_ALERTS,
  states: UPSERT_STATES,
} as const

/** The alerts ($1 to $4) and the users' states ($5, $6) in one statement. */
const INSERT_ALERTS_AND_STATES = `
WITH alerted AS (
  INSERT INTO alerts (${columnNames(ALERT_COLUMNS)})
  SELECT ${columnNames(ALERT_COLUMNS)}
    FROM unnest(${arrayParameters(ALERT_COLUMNS, 1)}) AS a(${columnNames(ALERT_COLUMNS)})
   WHERE decision <> 'approve'
)${upsertStates(ALERT_COLUMNS.length + 1, ALERT_COLUMNS.length + 2)}`

/**
 * SQLSTATE classes of a value the database refuses: data exceptions (22), integrity violations (23) but
 * the transaction's own key (a duplicate, handled as such) and program limits (54, a value too big for
 * an index). Each is caused by an entry, so the entry is a dead letter, never a reason to retry.
 */
export const isRowRejection = (error: unknown) => {
  const code = (error as { code?: unknown }).code
  if (typeof code !== 'string') return false
  return (
    code.startsWith('22') ||
    code.startsWith('54') ||
    (code.startsWith('23') && !isDuplicateTransaction(error))
  )
}

/** A store read or write refused for an entry's data becomes a RowRejectedError; anything else is left be. */
const rejecting = (error: unknown): unknown =>
  isRowRejection(error)
    ? new RowRejectedError(`the store refused it: ${(error as Error).message}`, error)
    : error

/**
 * Batches from this size go in by COPY. A COPY batch is BEGIN, the fences, the COPY (two round trips),
 * the alerts, the states and COMMIT, where the unnest path is one call (pipeline_commit_batch):
 * small batches (a quiet stream, where latency counts) are faster that way, big ones (a backlog, where
 * throughput counts) by COPY.
 */
const COPY_FROM_ROWS = 500

const isDuplicateTransaction = (error: unknown) => {
  const { code, constraint } = error as { code?: unknown; constraint?: unknown }
  return code === '23505' && constraint === 'transactions_pkey'
}

export class PipelineStore {
  constructor(
    private readonly store: Pick<Store, 'engine' | 'db'>,
    /** The stream set (or replayed file) whose partitions this writer fences. */
    readonly source: string,
    /** The PostgreSQL pool behind `store.db`: with it, big batches go in by COPY. */
    private readonly pool?: pg.Pool,
  ) {}

  get engine() {
    return this.store.engine
  }

  /** The store's database, for what reads alongside the writes (RulesSource). */
  get db(): StoreDb {
    return this.store.db
  }

  /** Takes a partition over: its epoch goes up, so its previous owner can no longer commit. */
  async takeOver(partition: number, owner: string): Promise<{ epoch: number; position: string | null }> {
    const [row] = await run<{ epoch: number; position: string | null }>(
      this.store.db,
      `INSERT INTO pipeline_partitions (source, partition, epoch, owner) VALUES ($1, $2, 1, $3)
       ON CONFLICT (source, partition) DO UPDATE
         SET epoch = pipeline_partitions.epoch + 1, owner = EXCLUDED.owner, updated_at = now()
       RETURNING epoch, position`,
      [this.source, partition, owner],
    )
    if (row === undefined) throw new Error('The partition table returned no row')
    return { epoch: Number(row.epoch), position: row.position }
  }

  /** Marks a partition as left by its owner (information for the status; the fence is the epoch). */
  async release(partition: number, epoch: number): Promise<void> {
    await run(
      this.store.db,
      `UPDATE pipeline_partitions SET owner = NULL, updated_at = now()
        WHERE source = $1 AND partition = $2 AND epoch = $3`,
      [this.source, partition, epoch],
    )
  }

  /** The stored feature state of each user that has one. */
  async loadStates(userIds: readonly string[]): Promise<Map<string, UserState>> {
    const states = new Map<string, UserState>()
    if (userIds.length === 0) return states
    const rows = await run<{ user_id: string; state: unknown }>(this.store.db, LOAD_STATES, [userIds]).catch(
      (error: unknown) => {
        throw rejecting(error)
      },
    )
    for (const row of rows) {
      try {
        states.set(row.user_id, unpackUserState(row.state))
      } catch (error) {
        // As a refusal of the store: that user's entries are found and become dead letters, not a stall.
        throw new RowRejectedError(
          `the stored feature state of user ${row.user_id} cannot be read: ${(error as Error).message}`,
          error,
        )
      }
    }
    return states
  }

  /**
   * The stored version of each of these transactions that is stored already, by index, with the fields
   * whose values differ (compared as the store keeps them: 181 and 181.00 are the same amount).
   */
  async storedVersions(txns: readonly Transaction[]): Promise<Map<number, StoredVersion>> {
    const versions = new Map<number, StoredVersion>()
    if (txns.length === 0) return versions
    const rows = await run<{ i: number; differs: string[]; stored: Record<string, string | boolean | null> }>(
      this.store.db,
      STORED_VERSIONS,
      columnArrays(TRANSACTION_COLUMNS, txns),
    ).catch((error: unknown) => {
      throw rejecting(error)
    })
    for (const row of rows) versions.set(Number(row.i) - 1, { differs: row.differs, stored: row.stored })
    return versions
  }

  /** The last committed position of each of these partitions (null: never committed). */
  async positions(partitions: readonly number[]): Promise<Map<number, string | null>> {
    const positions = new Map<number, string | null>()
    for (const [partition, { position }] of await this.checkpoints(partitions))
      positions.set(partition, position)
    return positions
  }

  /**
   * Each partition's committed position, and how far its users' stored states go (0017): statePosition
   * null when they are current up to the position, otherwise the entries after it (up to the position)
   * whose transactions were stored after stateAt (the database's clock, as text) are still to be
   * replayed into them.
   */
  async checkpoints(partitions: readonly number[]): Promise<Map<number, PartitionCheckpoint>> {
    const rows = await run<{
      partition: number
      position: string | null
      state_position: string | null
      state_at: string
    }>(
      this.store.db,
      `SELECT partition, position, state_position, state_at::text AS state_at FROM pipeline_partitions
        WHERE source = $1 AND partition = ANY($2::int[])`,
      [this.source, partitions],
    )
    const checkpoints = new Map<number, PartitionCheckpoint>(
      partitions.map((partition) => [partition, { position: null, statePosition: null, stateAt: null }]),
    )
    for (const row of rows)
      checkpoints.set(Number(row.partition), {
        position: row.position,
        statePosition: row.state_position,
        stateAt: row.state_at,
      })
    return checkpoints
  }

  /**
   * Of these transactions (a partition's entries after its states' checkpoint), the indexes of those
   * stored after `since` with exactly this content: the ones whose stored row came from such an entry,
   * which advanced their user's state. A producer's duplicate of a transaction stored before `since`, or
   * a conflicting version, is not among them.
   */
  async storedSince(txns: readonly Transaction[], since: string): Promise<Set<number>> {
    const found = new Set<number>()
    // An entry whose values the store refuses (an address it cannot read) was never stored: the
    // statement is tried on halves, down to that entry alone, which is then left out.
    const look = async (indexes: number[]): Promise<void> => {
      if (indexes.length === 0) return
      let rows: { i: number; differs: string[] }[]
      try {
        rows = await run(this.store.db, STORED_SINCE, [
          ...columnArrays(
            TRANSACTION_COLUMNS,
            indexes.map((index) => txns[index] as Transaction),
          ),
          since,
        ])
      } catch (error) {
        if (!isRowRejection(error)) throw error
        if (indexes.length === 1) return
        const half = Math.ceil(indexes.length / 2)
        await look(indexes.slice(0, half))
        await look(indexes.slice(half))
        return
      }
      for (const row of rows) if (row.differs.length === 0) found.add(indexes[Number(row.i) - 1] as number)
    }
    await look(txns.map((_, index) => index))
    return found
  }

  /**
   * Finds the rows whose data the store refuses, with its message, by index: the batch's reads and
   * writes are tried on halves of the rows, each in a savepoint, down to single rows, in one
   * transaction that is rolled back whatever happens. A few bad rows among thousands cost a few dozen
   * statements, and the rest of the batch can then commit. Empty when the refusal does not come back
   * (it came from rows together, or from something else than the rows).
   */
  async refusedRows(rows: readonly ProbeRow[], modelVersion: string): Promise<Map<number, string>> {
    const refused = new Map<number, string>()
    const tryRows = async (trx: StoreDb, indexes: number[]): Promise<void> => {
      await run(trx, 'SAVEPOINT aether_probe')
      let failure: unknown
      try {
        await this.probe(
          trx,
          indexes.map((index) => rows[index] as ProbeRow),
          modelVersion,
        )
      } catch (error) {
        if (!isRowRejection(error)) throw error
        failure = error
      }
      await run(trx, 'ROLLBACK TO SAVEPOINT aether_probe')
      await run(trx, 'RELEASE SAVEPOINT aether_probe')
      if (failure === undefined) return
      if (indexes.length === 1) {
        refused.set(indexes[0] as number, `the store refused it: ${(failure as Error).message}`)
        return
      }
      const half = Math.ceil(indexes.length / 2)
      await tryRows(trx, indexes.slice(0, half))
      await tryRows(trx, indexes.slice(half))
    }
    try {
      await this.store.db.transaction().execute(async (trx) => {
        await tryRows(
          trx,
          rows.map((_, index) => index),
        )
        throw new ProbeDone()
      })
    } catch (error) {
      if (!(error instanceof ProbeDone)) throw error
    }
    return refused
  }

  /** What a batch's commit does with the rows' data, without the fences: loads, then every write. */
  private async probe(trx: StoreDb, rows: readonly ProbeRow[], modelVersion: string) {
    const txns = rows.map((row) => row.txn)
    await run(trx, LOAD_STATES, [[...new Set(txns.map((txn) => txn.user_id))]])
    await run(trx, STORED_VERSIONS, columnArrays(TRANSACTION_COLUMNS, txns))
    const inserted = new Set(
      (
        await run<{ txn_id: string }>(
          trx,
          `INSERT INTO transactions (${STORED_TRANSACTIONS})
           SELECT * FROM unnest(${arrayParameters(STORED_TRANSACTION_COLUMNS, 1)})
           ON CONFLICT (txn_id) DO NOTHING RETURNING txn_id::text`,
          columnArrays(STORED_TRANSACTION_COLUMNS, rows),
        )
      ).map((row) => row.txn_id),
    )
    // A row stored already has its alert and state: only the new ones are written, as a commit would.
    const fresh = rows.filter((row) => inserted.has(row.txn.txn_id))
    const states = new Map(fresh.map((row) => [row.txn.user_id, row.state]))
    await run(trx, INSERT_ALERTS_AND_STATES, [
      ...columnArrays(ALERT_COLUMNS, fresh),
      statesDocument(states),
      modelVersion,
    ])
  }

  /**
   * Writes one batch in one transaction, fenced on every partition it holds entries of. A batch with
   * no transactions (all dead letters or duplicates) still moves the fenced positions.
   */
  async commit(batch: BatchWrite): Promise<CommitOutcome> {
    return (await this.commitAt(batch)).outcome
  }

  /** commit, and the batch's time once committed: its transaction's now(), every row's ingested_at. */
  async commitAt(batch: BatchWrite): Promise<{ outcome: CommitOutcome; at?: string }> {
    try {
      const at =
        this.pool !== undefined && this.store.engine === 'postgresql' && batch.rows.length >= COPY_FROM_ROWS
          ? await this.commitByCopy(this.pool, batch)
          : await this.commitByUnnest(batch)
      return at === undefined ? { outcome: 'committed' } : { outcome: 'committed', at }
    } catch (error) {
      if (error instanceof Outcome) return { outcome: error.outcome }
      if (isRowRejection(error))
        throw new RowRejectedError(`the store refused it: ${(error as Error).message}`, error)
      throw error
    }
  }

  /**
   * A checkpoint (0017), in its own transaction: writes these users' states, then records that the
   * partitions' states are current up to the fences' positions, as of `at` (the time of the last batch
   * they count; null: now, when nothing is being committed beside it). Fenced on every partition: nothing
   * is written if another worker has taken one over.
   */
  async checkpoint(write: CheckpointWrite): Promise<'committed' | 'fenced'> {
    try {
      await this.store.db.transaction().execute(async (trx) => {
        await trx.executeQuery(CompiledQuery.raw(`SET LOCAL lock_timeout = '${WORKER_LOCK_TIMEOUT}'`))
        if (write.states.users > 0) await run(trx, UPSERT_STATES, [write.states.json, write.modelVersion])
        const result = await trx.executeQuery(
          CompiledQuery.raw(CHECKPOINT, [
            ...fenceParameters(write.fences, this.source).slice(0, 4),
            write.at,
          ]),
        )
        if (Number(result.numAffectedRows ?? 0) !== write.fences.length) throw new Outcome('fenced')
      })
      return 'committed'
    } catch (error) {
      if (error instanceof Outcome) return 'fenced'
      throw error
    }
  }

  private async commitByCopy(pool: pg.Pool, batch: BatchWrite): Promise<string | undefined> {
    const { fences, rows, states } = batch
    const client = await pool.connect()
    let failure: Error | undefined
    try {
      await client.query(BEGIN_WORKER)
      try {
        const fenced = await client.query<{ at: string }>(
          FENCE,
          fenceParameters(fences, this.source, states !== undefined),
        )
        if (fenced.rowCount !== fences.length) throw new Outcome('fenced')
        if (rows.length > 0) {
          await copyIn(client, COPY_TRANSACTIONS, copyText(STORED_TRANSACTION_COLUMNS, rows)).catch(
            (error: unknown) => {
              throw isDuplicateTransaction(error) ? new Outcome('redelivered') : error
            },
          )
          const alerted = rows.filter((row) => row.score.decision !== 'approve')
          if (alerted.length > 0) await client.query(INSERT_ALERTS, columnArrays(ALERT_COLUMNS, alerted))
        }
        if (states !== undefined && stateCount(states) > 0)
          await client.query(UPSERT_STATES, [statesDocument(states), batch.modelVersion])
        await client.query('COMMIT')
        return fenced.rows[0]?.at
      } catch (error) {
        // A connection that cannot even roll back is dropped from the pool, not handed out again.
        await client.query('ROLLBACK').catch((rollback: unknown) => (failure = rollback as Error))
        throw error
      }
    } finally {
      client.release(failure)
    }
  }

  private async commitByUnnest(batch: BatchWrite): Promise<string | undefined> {
    const { fences, rows, states } = batch
    try {
      const [row] = await run<{ at: string }>(this.store.db, COMMIT_BATCH, [
        this.source,
        fences.map((fence) => fence.partition),
        fences.map((fence) => fence.epoch),
        fences.map((fence) => fence.position),
        // node-postgres takes the arrays' text forms as they are; PGlite is handed the arrays.
        ...(this.store.engine === 'postgresql'
          ? columnLiterals(STORED_TRANSACTION_COLUMNS, rows)
          : columnArrays(STORED_TRANSACTION_COLUMNS, rows)),
        states === undefined ? null : statesDocument(states),
        batch.modelVersion,
      ])
      return row?.at
    } catch (error) {
      const outcome = OUTCOMES[String((error as { code?: unknown }).code)]
      if (outcome !== undefined) throw new Outcome(outcome)
      throw error
    }
  }
}

class Outcome extends Error {
  constructor(readonly outcome: CommitOutcome) {
    super(outcome)
  }
}

/** Ends a probe's transaction: everything it wrote is rolled back. */
class ProbeDone extends Error {}

/** Runs one COPY … FROM STDIN with the whole text at once; resolves when the server has taken it. */
async function copyIn(client: pg.PoolClient, statement: string, text: string): Promise<void> {
  const stream = client.query(copyFrom(statement))
  stream.end(text)
  await finished(stream)
}
