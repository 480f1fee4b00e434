import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PipelineStore, RowRejectedError, type ScoredRow } from '../../src/main/pipeline/sink'
import { emptyUserState, packUserState, type UserState } from '../../src/main/scoring'
import { generateTransactions } from '../../src/main/scoring/generator'
import { postgresPoolConfig } from '../../src/main/store/store'
import type { Transaction } from '../../src/shared/transaction'
import { migratedDatabase, withTableLocked } from '../support/pipeline'
import { createTestDatabase, type TestDatabase } from '../support/services'

/**
 * The team store's write path: a big batch goes in by COPY, a small one by INSERT … unnest. Both must
 * store exactly what they were given (free text with COPY's special characters included), change
 * nothing on a redelivery or a fenced commit, and refuse a batch the database refuses as a whole.
 */

const SIZES = [
  ['COPY', 600],
  ['INSERT … unnest', 20],
] as const

/** Text a COPY line would break on if it were not escaped. */
const AWKWARD = ['tab\there', 'line\nbreak', 'carriage\rreturn', 'back\\slash', '\\N', 'quote"\'', 'ünï']

let database: TestDatabase
let pool: pg.Pool
let store: PipelineStore

beforeAll(async () => {
  database = await createTestDatabase('aether_copy')
  await migratedDatabase(database.url)
  pool = new pg.Pool(postgresPoolConfig({ connectionString: database.url, max: 2 }))
  store = new PipelineStore(
    { engine: 'postgresql', db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) }) },
    'copy-test',
    pool,
  )
})

afterAll(async () => {
  await pool?.end()
  await database?.drop()
})

const count = async (table: string) =>
  Number((await pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n)

function batchOf(size: number, seed: number): ScoredRow[] {
  return generateTransactions({ seed }, size).map(({ txn }, i): ScoredRow => {
    const awkward = AWKWARD[i % AWKWARD.length] as string
    const row: Transaction =
      i % 3 === 0 ? { ...txn, user_id: `${txn.user_id} ${awkward}`, merchant_type: awkward } : txn
    const decision = i % 10 === 0 ? 'review' : 'approve'
    return {
      txn: i % 5 === 0 ? { ...row, device_id: awkward, label: true } : row,
      score: {
        score: decision === 'review' ? 70 : 5,
        decision,
        reasons: decision === 'review' ? [{ rule: 'test', text: `reason ${awkward}`, weight: 70 }] : [],
        model_version: 'test-model',
        rules_version: 1,
      },
    }
  })
}

/** A user's state after its row: one transaction, to that row's counterparty and device. */
const stateOf = (row: ScoredRow): UserState => ({
  ...emptyUserState(),
  n: 1,
  lastMs: Date.parse(row.txn.ts),
  mean: Number(row.txn.amount),
  recentMs: [Date.parse(row.txn.ts)],
  recentCents: [Math.round(Number(row.txn.amount) * 100)],
  counterparties: [row.txn.counterparty_id],
  devices: [row.txn.device_id ?? null],
  ips: [row.txn.source_ip ?? null],
})

/** The states as the worker sends them: each user's stored form (state-codec.ts) as JSON. */
const statesOf = (rows: readonly ScoredRow[]) =>
  new Map(rows.map((row) => [row.txn.user_id, JSON.stringify(packUserState(stateOf(row)))]))

describe.each(SIZES)('a batch written by %s', (_path, size) => {
  let epoch: number
  let rows: ScoredRow[]

  beforeAll(async () => {
    ;({ epoch } = await store.takeOver(size, 'writer-a'))
    rows = batchOf(size, size)
  })

  it('stores every row as given, with its score, alerts and user states', async () => {
    const before = { transactions: await count('transactions'), alerts: await count('alerts') }
    const outcome = await store.commit({
      fences: [{ partition: size, epoch, position: '1-0' }],
      rows,
      states: statesOf(rows),
      modelVersion: 'test-model',
    })
    expect(outcome).toBe('committed')
    expect(await count('transactions')).toBe(before.transactions + size)
    expect(await count('alerts')).toBe(
      before.alerts + rows.filter((r) => r.score.decision !== 'approve').length,
    )

    const { rows: stored } = await pool.query(
      `SELECT t.txn_id::text, t.user_id, t.merchant_type, t.device_id, t.amount::text, t.label,
              s.score, s.decision, s.reasons
         FROM transactions t JOIN scores s USING (txn_id) WHERE t.txn_id = ANY($1::uuid[])`,
      [rows.map((row) => row.txn.txn_id)],
    )
    const byId = new Map(stored.map((row) => [row.txn_id, row]))
    for (const { txn, score } of rows) {
      const row = byId.get(txn.txn_id)
      expect(row).toMatchObject({
        user_id: txn.user_id,
        merchant_type: txn.merchant_type ?? null,
        device_id: txn.device_id ?? null,
        label: txn.label ?? null,
        score: score.score,
        decision: score.decision,
        reasons: score.reasons,
      })
      expect(Number(row.amount)).toBe(Number(txn.amount))
    }
    const states = await store.loadStates(rows.map((row) => row.txn.user_id))
    const lastOf = new Map(rows.map((row) => [row.txn.user_id, row]))
    for (const [user, row] of lastOf) expect(states.get(user)).toEqual(stateOf(row))
    const [position] = (
      await pool.query(
        `SELECT position FROM pipeline_partitions WHERE source = 'copy-test' AND partition = $1`,
        [size],
      )
    ).rows
    expect(position.position).toBe('1-0')
  })

  it('changes nothing when the batch comes again: redelivered', async () => {
    const before = { transactions: await count('transactions'), scores: await count('scores') }
    const again = batchOf(size, size + 1)
    // One stored transaction among new ones is enough.
    again[size - 1] = rows[0] as ScoredRow
    const outcome = await store.commit({
      fences: [{ partition: size, epoch, position: '2-0' }],
      rows: again,
      states: statesOf(again),
      modelVersion: 'test-model',
    })
    expect(outcome).toBe('redelivered')
    expect({ transactions: await count('transactions'), scores: await count('scores') }).toEqual(before)
  })

  it('writes nothing for a worker whose partition was taken over: fenced', async () => {
    await store.takeOver(size, 'writer-b')
    const before = await count('transactions')
    const outcome = await store.commit({
      fences: [{ partition: size, epoch, position: '3-0' }],
      rows: batchOf(size, size + 2),
      states: new Map(),
      modelVersion: 'test-model',
    })
    expect(outcome).toBe('fenced')
    expect(await count('transactions')).toBe(before)
  })

  it('refuses the whole batch when the database refuses one of its rows', async () => {
    ;({ epoch } = await store.takeOver(size, 'writer-c'))
    const before = { transactions: await count('transactions'), states: await count('user_features') }
    const bad = batchOf(size, size + 3)
    const victim = bad[Math.floor(size / 2)] as ScoredRow
    bad[Math.floor(size / 2)] = { ...victim, txn: { ...victim.txn, user_id: 'nul\u0000byte' } }
    await expect(
      store.commit({
        fences: [{ partition: size, epoch, position: '4-0' }],
        rows: bad,
        states: statesOf(bad.filter((row) => row !== bad[Math.floor(size / 2)])),
        modelVersion: 'test-model',
      }),
    ).rejects.toBeInstanceOf(RowRejectedError)
    expect({ transactions: await count('transactions'), states: await count('user_features') }).toEqual(
      before,
    )
    // The connection went back to the pool usable.
    expect(await count('transactions')).toBe(before.transactions)
  })

  it('gives up a lock another session keeps after 10 s, and goes in once it is gone (0025)', async () => {
    // An admin's `LOCK TABLE triage_settings` left open: every alert's webhook trigger reads the table.
    const rows = batchOf(size, size + 4)
    const write = (position: string) =>
      store.commit({
        fences: [{ partition: size, epoch, position }],
        rows,
        states: statesOf(rows),
        modelVersion: 'test-model',
      })
    await withTableLocked(database.url, 'triage_settings', async () => {
      const started = performance.now()
      await expect(write('5-0')).rejects.toMatchObject({ code: '55P03' })
      expect(performance.now() - started).toBeGreaterThan(9_000)
    })
    expect(await write('5-0')).toBe('committed')
  }, 60_000)
})

describe('a score on its transaction’s row (0015), read through the scores view', () => {
  const query = (text: string, values: unknown[] = []) => pool.query(text, values)
  const insert = (txnId: string, score: string) =>
    query(
      `INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency,
                                 score, decision, reasons, model_version, rules_version)
       VALUES ($1, now(), 'C-view', 'M1', 'PAYMENT', 10, 'USD', ${score})`,
      [txnId],
    )

  it('is whole or absent, shows only scored transactions, and goes with its transaction', async () => {
    const unscored = '00000000-0000-4000-8000-0000000000a1'
    const scored = '00000000-0000-4000-8000-0000000000a2'
    // Half a score is refused: a decision without its score, a score without its rule set version.
    await expect(
      insert('00000000-0000-4000-8000-0000000000a3', `NULL, 'block', '[]', 'm', 1`),
    ).rejects.toMatchObject({ code: '23514' })
    await expect(
      insert('00000000-0000-4000-8000-0000000000a4', `90, 'block', '[]', 'm', NULL`),
    ).rejects.toMatchObject({ code: '23514' })
    await insert(unscored, 'NULL, NULL, NULL, NULL, NULL')
    await insert(scored, `77, 'review', '[{"rule":"r"}]', 'm', 3`)
    const { rows } = await query(
      `SELECT txn_id::text, score, decision, reasons, model_version, rules_version,
              scored_at = (SELECT ingested_at FROM transactions WHERE txn_id = $2) AS at_ingest
         FROM scores WHERE txn_id = ANY($1::uuid[])`,
      [[unscored, scored], scored],
    )
    expect(rows).toEqual([
      {
        txn_id: scored,
        score: 77,
        decision: 'review',
        reasons: [{ rule: 'r' }],
        model_version: 'm',
        rules_version: 3,
        at_ingest: true,
      },
    ])
    // The view is not a second copy to write, even for its owner: a score goes in with its transaction only,
    // and a DELETE through it would have deleted transactions.
    const readOnly = { code: '42501', message: expect.stringMatching(/scores is read-only/) }
    await expect(
      query(
        `INSERT INTO scores (txn_id, score, decision, reasons, model_version, rules_version)
         VALUES ('00000000-0000-4000-8000-0000000000a5', 1, 'approve', '[]', 'm', 1)`,
      ),
    ).rejects.toMatchObject(readOnly)
    await expect(query(`UPDATE scores SET score = 0 WHERE txn_id = $1`, [scored])).rejects.toMatchObject(
      readOnly,
    )
    await expect(query(`DELETE FROM scores WHERE txn_id = $1`, [scored])).rejects.toMatchObject(readOnly)
    expect((await query('SELECT score FROM transactions WHERE txn_id = $1', [scored])).rows).toEqual([
      { score: 77 },
    ])
    await query('DELETE FROM transactions WHERE txn_id = ANY($1::uuid[])', [[unscored, scored]])
    expect((await query('SELECT count(*)::int AS n FROM scores WHERE txn_id = $1', [scored])).rows[0].n).toBe(
      0,
    )
  })
})

describe('stored user states', () => {
  it('reads the earlier form, and refuses an unreadable one as a row the store refused, naming its user', async () => {
    const earlier = { ...emptyUserState(), n: 2, lastMs: 1_767_323_232_551, counterparties: ['C1', 'C2'] }
    await pool.query(
      `INSERT INTO user_features (user_id, state, model_version) VALUES
         ('C-earlier-form', $1, 'test-model'), ('C-unreadable', '{"v":2,"n":"many"}', 'test-model')`,
      [JSON.stringify(earlier)],
    )
    expect((await store.loadStates(['C-earlier-form'])).get('C-earlier-form')).toEqual(earlier)
    const refused = await store
      .loadStates(['C-earlier-form', 'C-unreadable'])
      .catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(RowRejectedError)
    expect((refused as Error).message).toMatch(/state of user C-unreadable cannot be read/)
  })
})
