import { finished } from 'node:stream/promises'
import { CompiledQuery, type Kysely } from 'kysely'
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import type { Score, Transaction } from '../../shared/transaction'
import type { UserState } from '../scoring'
import type { Store } from '../store/store'

/**
 * The pipeline's side of the store. A batch goes in ONE transaction: the partition fences, the
 * transactions, their scores and alerts, and the users' feature states (one JSON object, split by
 * json_each). On PostgreSQL, given the writer's pool, a big batch's transactions and scores go in by
 * COPY straight into their tables: a transaction stored already breaks the primary key, which aborts the
 * batch, and that is the redelivered outcome. Small batches, PGlite and a store without a pool send the
 * rows as one array per column through unnest(), with ON CONFLICT telling the duplicates.
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
}

export interface BatchWrite {
  fences: PartitionFence[]
  rows: ScoredRow[]
  /**
   * Each user's state after the batch, as JSON taken when the batch was scored: the scorer advances
   * states in place, and the next batch is scored while this one commits.
   */
  states: Map<string, string>
  modelVersion: string
}

/** A row to try on its own: the transaction, its score and its user's state after it (JSON). */
export interface ProbeRow {
  txn: Transaction
  score: Score
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

const run = async <R>(db: Kysely<unknown>, text: string, params: readonly unknown[] = []): Promise<R[]> =>
  (await db.executeQuery<R>(CompiledQuery.raw(text, params as unknown[]))).rows

const TRANSACTION_COLUMNS = `txn_id, ts, user_id, counterparty_id, type, amount, currency, merchant_type,
  source_ip, device_id, balance_before, balance_after, cp_balance_before, cp_balance_after, label`

/** The transactions as arrays, in TRANSACTION_COLUMNS' order (transactionColumns builds them). */
const TRANSACTION_ARRAYS = `$1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::numeric[],
  $7::text[], $8::text[], $9::inet[], $10::text[], $11::numeric[], $12::numeric[], $13::numeric[],
  $14::numeric[], $15::boolean[]`

const LOAD_STATES = 'SELECT user_id, state FROM user_features WHERE user_id = ANY($1::text[])'

/** Compared as stored: an identical redelivery is a duplicate, anything else a conflicting one. */
const COMPARED = [
  'ts',
  'user_id',
  'counterparty_id',
  'type',
  'amount',
  'currency',
  'merchant_type',
  'source_ip',
  'device_id',
  'balance_before',
  'balance_after',
  'cp_balance_before',
  'cp_balance_after',
  'label',
] as const

const differsWhen = COMPARED.map(
  (name) => `CASE WHEN t.${name} IS DISTINCT FROM e.${name} THEN '${name}' END`,
)
const storedAsText = COMPARED.map((name) => `'${name}', t.${name}${name === 'label' ? '' : '::text'}`)

const STORED_VERSIONS = `
SELECT e.i, array_remove(ARRAY[${differsWhen.join(', ')}], NULL) AS differs,
       json_build_object(${storedAsText.join(', ')}) AS stored
  FROM unnest(${TRANSACTION_ARRAYS}) WITH ORDINALITY AS e(txn_id, ${COMPARED.join(', ')}, i)
  JOIN transactions t ON t.txn_id = e.txn_id`

const INSERT_TRANSACTIONS = `
WITH fence AS (
  UPDATE pipeline_partitions p SET position = f.position, updated_at = now()
    FROM unnest($1::int[], $2::bigint[], $3::text[]) AS f(partition, epoch, position)
   WHERE p.source = $4 AND p.partition = f.partition AND p.epoch = f.epoch
  RETURNING 1
), stored AS (
  INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency, merchant_type,
    source_ip, device_id, balance_before, balance_after, cp_balance_before, cp_balance_after, label)
  SELECT * FROM unnest($5::uuid[], $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::numeric[],
    $11::text[], $12::text[], $13::inet[], $14::text[], $15::numeric[], $16::numeric[], $17::numeric[],
    $18::numeric[], $19::boolean[])
   WHERE (SELECT count(*) FROM fence) = $20
  ON CONFLICT (txn_id) DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM fence)::int AS fenced, (SELECT count(*) FROM stored)::int AS stored`

/** The feature states as one JSON object: user id → state, each state JSON already. */
const statesDocument = (states: Map<string, string>): string => {
  const members: string[] = []
  for (const [user, state] of states) members.push(`${JSON.stringify(user)}:${state}`)
  return `{${members.join(',')}}`
}

const UPSERT_STATES = `
INSERT INTO user_features (user_id, state, model_version)
SELECT key, value, $2 FROM json_each($1::json)
ON CONFLICT (user_id) DO UPDATE
  SET state = EXCLUDED.state, model_version = EXCLUDED.model_version, updated_at = now()`

const FENCE = `
UPDATE pipeline_partitions p SET position = f.position, updated_at = now()
  FROM unnest($1::int[], $2::bigint[], $3::text[]) AS f(partition, epoch, position)
 WHERE p.source = $4 AND p.partition = f.partition AND p.epoch = f.epoch`

const COPY_TRANSACTIONS = `COPY transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency,
  merchant_type, source_ip, device_id, balance_before, balance_after, cp_balance_before, cp_balance_after, label)
  FROM STDIN`

const COPY_SCORES = `COPY scores (txn_id, score, decision, reasons, model_version, rules_version) FROM STDIN`

const INSERT_ALERTS = `
INSERT INTO alerts (txn_id, score, decision, reasons)
SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::text[], $4::jsonb[])`

const INSERT_SCORES_AND_STATES = `
WITH scored AS (
  INSERT INTO scores (txn_id, score, decision, reasons, model_version, rules_version)
  SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::text[], $4::jsonb[], $5::text[], $6::int[])
), alerted AS (
  INSERT INTO alerts (txn_id, score, decision, reasons)
  SELECT txn_id, score, decision, reasons
    FROM unnest($1::uuid[], $2::smallint[], $3::text[], $4::jsonb[]) AS a(txn_id, score, decision, reasons)
   WHERE decision <> 'approve'
)
INSERT INTO user_features (user_id, state, model_version)
SELECT key, value, $8 FROM json_each($7::json)
ON CONFLICT (user_id) DO UPDATE
  SET state = EXCLUDED.state, model_version = EXCLUDED.model_version, updated_at = now()`

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
 * Batches from this size go in by COPY. A COPY costs two round trips and the batch three statements
 * more than the two of the unnest path: small batches (a quiet stream, where latency counts) are faster
 * that way, big ones (a backlog, where throughput counts) by COPY.
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
    const rows = await run<{ user_id: string; state: UserState }>(this.store.db, LOAD_STATES, [
      userIds,
    ]).catch((error: unknown) => {
      throw rejecting(error)
    })
    for (const row of rows) states.set(row.user_id, row.state)
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
      transactionColumns(txns),
    ).catch((error: unknown) => {
      throw rejecting(error)
    })
    for (const row of rows) versions.set(Number(row.i) - 1, { differs: row.differs, stored: row.stored })
    return versions
  }

  /** The last committed position of each of these partitions (null: never committed). */
  async positions(partitions: readonly number[]): Promise<Map<number, string | null>> {
    const rows = await run<{ partition: number; position: string | null }>(
      this.store.db,
      'SELECT partition, position FROM pipeline_partitions WHERE source = $1 AND partition = ANY($2::int[])',
      [this.source, partitions],
    )
    const positions = new Map<number, string | null>(partitions.map((partition) => [partition, null]))
    for (const row of rows) positions.set(Number(row.partition), row.position)
    return positions
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
    const tryRows = async (trx: Kysely<unknown>, indexes: number[]): Promise<void> => {
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
  private async probe(trx: Kysely<unknown>, rows: readonly ProbeRow[], modelVersion: string) {
    const txns = rows.map((row) => row.txn)
    await run(trx, LOAD_STATES, [[...new Set(txns.map((txn) => txn.user_id))]])
    await run(trx, STORED_VERSIONS, transactionColumns(txns))
    const inserted = new Set(
      (
        await run<{ txn_id: string }>(
          trx,
          `INSERT INTO transactions (${TRANSACTION_COLUMNS})
           SELECT * FROM unnest(${TRANSACTION_ARRAYS}) ON CONFLICT (txn_id) DO NOTHING RETURNING txn_id::text`,
          transactionColumns(txns),
        )
      ).map((row) => row.txn_id),
    )
    // A row stored already has its score and state: only the new ones are written, as a commit would.
    const fresh = rows.filter((row) => inserted.has(row.txn.txn_id))
    const states = new Map(fresh.map((row) => [row.txn.user_id, row.state]))
    await run(trx, INSERT_SCORES_AND_STATES, [
      fresh.map((row) => row.txn.txn_id),
      fresh.map((row) => row.score.score),
      fresh.map((row) => row.score.decision),
      fresh.map((row) => JSON.stringify(row.score.reasons)),
      fresh.map((row) => row.score.model_version),
      fresh.map((row) => row.score.rules_version),
      statesDocument(states),
      modelVersion,
    ])
  }

  /**
   * Writes one batch in one transaction, fenced on every partition it holds entries of. A batch with
   * no transactions (all dead letters or duplicates) still moves the fenced positions.
   */
  async commit(batch: BatchWrite): Promise<CommitOutcome> {
    try {
      return this.pool !== undefined &&
        this.store.engine === 'postgresql' &&
        batch.rows.length >= COPY_FROM_ROWS
        ? await this.commitByCopy(this.pool, batch)
        : await this.commitByUnnest(batch)
    } catch (error) {
      if (error instanceof Outcome) return error.outcome
      if (isRowRejection(error))
        throw new RowRejectedError(`the store refused it: ${(error as Error).message}`, error)
      throw error
    }
  }

  private async commitByCopy(pool: pg.Pool, batch: BatchWrite): Promise<CommitOutcome> {
    const { fences, rows, states } = batch
    const client = await pool.connect()
    let failure: Error | undefined
    try {
      await client.query('BEGIN')
      try {
        const fenced = await client.query(FENCE, [
          fences.map((fence) => fence.partition),
          fences.map((fence) => fence.epoch),
          fences.map((fence) => fence.position),
          this.source,
        ])
        if (fenced.rowCount !== fences.length) throw new Outcome('fenced')
        if (rows.length > 0) {
          await copyIn(client, COPY_TRANSACTIONS, transactionsText(rows)).catch((error: unknown) => {
            throw isDuplicateTransaction(error) ? new Outcome('redelivered') : error
          })
          await copyIn(client, COPY_SCORES, scoresText(rows))
          const alerted = rows.filter((row) => row.score.decision !== 'approve')
          if (alerted.length > 0)
            await client.query(INSERT_ALERTS, [
              alerted.map((row) => row.txn.txn_id),
              alerted.map((row) => row.score.score),
              alerted.map((row) => row.score.decision),
              alerted.map((row) => JSON.stringify(row.score.reasons)),
            ])
        }
        if (states.size > 0) await client.query(UPSERT_STATES, [statesDocument(states), batch.modelVersion])
        await client.query('COMMIT')
        return 'committed'
      } catch (error) {
        // A connection that cannot even roll back is dropped from the pool, not handed out again.
        await client.query('ROLLBACK').catch((rollback: unknown) => (failure = rollback as Error))
        throw error
      }
    } finally {
      client.release(failure)
    }
  }

  private async commitByUnnest(batch: BatchWrite): Promise<CommitOutcome> {
    const { fences, rows, states } = batch
    const columns = transactionColumns(rows.map((row) => row.txn))
    return this.store.db.transaction().execute(async (trx) => {
      const [result] = await run<{ fenced: number; stored: number }>(trx, INSERT_TRANSACTIONS, [
        fences.map((fence) => fence.partition),
        fences.map((fence) => fence.epoch),
        fences.map((fence) => fence.position),
        this.source,
        ...columns,
        fences.length,
      ])
      if (result === undefined || result.fenced !== fences.length) throw new Outcome('fenced')
      if (result.stored !== rows.length) throw new Outcome('redelivered')
      if (rows.length === 0 && states.size === 0) return 'committed' as const
      await run(trx, INSERT_SCORES_AND_STATES, [
        columns[0],
        rows.map((row) => row.score.score),
        rows.map((row) => row.score.decision),
        rows.map((row) => JSON.stringify(row.score.reasons)),
        rows.map((row) => row.score.model_version),
        rows.map((row) => row.score.rules_version),
        statesDocument(states),
        batch.modelVersion,
      ])
      return 'committed' as const
    })
  }

  /** The newest rule set version stored, or null when none has been saved yet. */
  async latestRulesVersion(): Promise<number | null> {
    const [row] = await run<{ version: number | null }>(
      this.store.db,
      'SELECT max(version) AS version FROM rules',
    )
    return row?.version ?? null
  }

  async rulesDefinition(version: number): Promise<unknown> {
    const [row] = await run<{ definition: unknown }>(
      this.store.db,
      'SELECT definition FROM rules WHERE version = $1',
      [version],
    )
    return row?.definition
  }

  /** A token that changes whenever the lists change (an expiry set, moved or lifted too) or an entry expires. */
  async listsToken(): Promise<string> {
    const [row] = await run<{ token: string }>(
      this.store.db,
      `SELECT concat_ws('/', count(*), max(id), max(created_at),
                min(expires_at) FILTER (WHERE expires_at > now()),
                count(expires_at), sum(extract(epoch FROM expires_at))) AS token FROM lists`,
    )
    return row?.token ?? ''
  }

  async activeListEntries(): Promise<{ kind: 'user' | 'counterparty' | 'ip' | 'device'; value: string }[]> {
    return run(
      this.store.db,
      'SELECT kind, value FROM lists WHERE expires_at IS NULL OR expires_at > now() ORDER BY id',
    )
  }
}

class Outcome extends Error {
  constructor(readonly outcome: CommitOutcome) {
    super(outcome)
  }
}

/** Ends a probe's transaction: everything it wrote is rolled back. */
class ProbeDone extends Error {}

/** The transactions as one array per column, in the INSERT's column order. */
function transactionColumns(txns: readonly Transaction[]): unknown[][] {
  const n = txns.length
  const ids = new Array<string>(n)
  const ts = new Array<string>(n)
  const users = new Array<string>(n)
  const counterparties = new Array<string>(n)
  const types = new Array<string>(n)
  const amounts = new Array<string>(n)
  const currencies = new Array<string>(n)
  const merchantTypes = new Array<string | null>(n)
  const ips = new Array<string | null>(n)
  const devices = new Array<string | null>(n)
  const before = new Array<string | null>(n)
  const after = new Array<string | null>(n)
  const cpBefore = new Array<string | null>(n)
  const cpAfter = new Array<string | null>(n)
  const labels = new Array<boolean | null>(n)
  for (let i = 0; i < n; i++) {
    const txn = txns[i] as Transaction
    ids[i] = txn.txn_id
    ts[i] = txn.ts
    users[i] = txn.user_id
    counterparties[i] = txn.counterparty_id
    types[i] = txn.type
    amounts[i] = txn.amount
    currencies[i] = txn.currency
    merchantTypes[i] = txn.merchant_type ?? null
    ips[i] = txn.source_ip ?? null
    devices[i] = txn.device_id ?? null
    before[i] = txn.balance_before ?? null
    after[i] = txn.balance_after ?? null
    cpBefore[i] = txn.cp_balance_before ?? null
    cpAfter[i] = txn.cp_balance_after ?? null
    labels[i] = txn.label ?? null
  }
  return [
    ids,
    ts,
    users,
    counterparties,
    types,
    amounts,
    currencies,
    merchantTypes,
    ips,
    devices,
    before,
    after,
    cpBefore,
    cpAfter,
    labels,
  ]
}

/** Runs one COPY … FROM STDIN with the whole text at once; resolves when the server has taken it. */
async function copyIn(client: pg.PoolClient, statement: string, text: string): Promise<void> {
  const stream = client.query(copyFrom(statement))
  stream.end(text)
  await finished(stream)
}

const SPECIAL = /[\\\t\n\r]/
const SPECIALS = /[\\\t\n\r]/g
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' }

/** A value in COPY's text format: backslash, tab, newline and carriage return escaped; \N is NULL. */
const copyText = (value: string | null | undefined): string =>
  value === undefined || value === null
    ? '\\N'
    : SPECIAL.test(value)
      ? value.replace(SPECIALS, (c) => ESCAPES[c] as string)
      : value

/** The transactions as COPY text, in COPY_TRANSACTIONS' column order (numbers and enums need no escaping). */
function transactionsText(rows: readonly ScoredRow[]): string {
  const lines = new Array<string>(rows.length + 1)
  for (let i = 0; i < rows.length; i++) {
    const txn = (rows[i] as ScoredRow).txn
    lines[i] =
      `${copyText(txn.txn_id)}\t${copyText(txn.ts)}\t${copyText(txn.user_id)}\t` +
      `${copyText(txn.counterparty_id)}\t${copyText(txn.type)}\t${copyText(txn.amount)}\t` +
      `${copyText(txn.currency)}\t${copyText(txn.merchant_type)}\t${copyText(txn.source_ip)}\t` +
      `${copyText(txn.device_id)}\t${copyText(txn.balance_before)}\t${copyText(txn.balance_after)}\t` +
      `${copyText(txn.cp_balance_before)}\t${copyText(txn.cp_balance_after)}\t` +
      (txn.label === undefined || txn.label === null ? '\\N' : txn.label ? 't' : 'f')
  }
  lines[rows.length] = ''
  return lines.join('\n')
}

/** The scores as COPY text, in COPY_SCORES' column order. */
function scoresText(rows: readonly ScoredRow[]): string {
  const lines = new Array<string>(rows.length + 1)
  for (let i = 0; i < rows.length; i++) {
    const { txn, score } = rows[i] as ScoredRow
    lines[i] =
      `${copyText(txn.txn_id)}\t${score.score}\t${copyText(score.decision)}\t` +
      `${copyText(JSON.stringify(score.reasons))}\t${copyText(score.model_version)}\t${score.rules_version}`
  }
  lines[rows.length] = ''
  return lines.join('\n')
}
