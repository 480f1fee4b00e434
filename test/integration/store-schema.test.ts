import { CompiledQuery, sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ALERT_COLUMNS,
  arrayLiteral,
  SCORE_COLUMNS,
  STORED_TRANSACTION_COLUMNS,
  type Column,
} from '../../src/main/pipeline/sink-columns'
import { COPY_PATH } from '../../src/main/pipeline/sink'
import { advanceUserState, emptyUserState, type UserState } from '../../src/main/scoring/features'
import { generateTraffic } from '../../src/main/scoring/generator'
import { packedStatesJson } from '../../src/main/scoring/state-codec'
import { migrateToLatest } from '../../src/main/store/migrate'
import type { Database } from '../../src/main/store/schema'
import { openPostgresStore, type Store } from '../../src/main/store/store'
import { createTestDatabase, type TestDatabase } from '../support/services'

/**
 * The store's types against the migrated database: the Database type names every table and column the
 * migrations create, and the pipeline's column lists (sink-columns.ts) are the tables' columns, in
 * their order, sent as their types.
 */

/** Every table's columns as the Database type has them: `satisfies` refuses an unknown table or column. */
const TYPED_COLUMNS = {
  transactions: [
    'txn_id',
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
    'ingested_at',
    'api_key_id',
    'score',
    'decision',
    'reasons',
    'model_version',
    'rules_version',
  ],
  scores: ['txn_id', 'score', 'decision', 'reasons', 'model_version', 'rules_version', 'scored_at'],
  alert_case_waits: ['alert_id', 'user_id', 'since'],
  alerts: [
    'id',
    'txn_id',
    'case_id',
    'score',
    'decision',
    'reasons',
    'created_at',
    'ts',
    'user_id',
    'amount',
  ],
  cases: [
    'id',
    'user_id',
    'status',
    'outcome',
    'priority',
    'assignee_id',
    'due_at',
    'version',
    'opened_at',
    'updated_at',
    'closed_at',
    'max_score',
    'amount_at_risk',
    'alert_count',
    'last_alert_at',
    'updated_by',
  ],
  case_events: ['id', 'case_id', 'actor', 'action', 'before', 'after', 'note', 'at'],
  analysts: ['id', 'login', 'display_name', 'role', 'disabled_at', 'created_at', 'ingests'],
  rules: ['version', 'definition', 'author', 'comment', 'created_at'],
  lists: ['id', 'kind', 'value', 'network', 'reason', 'created_by', 'created_at', 'expires_at'],
  labels: ['txn_id', 'case_id', 'outcome', 'labelled_by', 'labelled_at'],
  triage_settings: ['key', 'value', 'updated_by', 'updated_at'],
  webhook_deliveries: [
    'alert_id',
    'claimed_by',
    'claimed_at',
    'status',
    'error',
    'attempts',
    'next_attempt_at',
    'lease_holder',
    'lease_until',
    'sent_at',
  ],
  audit_log: ['id', 'at', 'actor', 'entity', 'entity_id', 'case_id', 'action', 'before', 'after'],
  user_features: ['user_id', 'state', 'model_version', 'updated_at'],
  pipeline_partitions: [
    'source',
    'partition',
    'epoch',
    'owner',
    'position',
    'updated_at',
    'state_position',
    'state_at',
  ],
  api_keys: ['id', 'name', 'hash', 'scopes', 'created_by', 'created_at', 'revoked_at', 'last_used_at'],
  api_key_names: ['id', 'name', 'revoked'],
} as const satisfies { [T in keyof Database]: readonly (keyof Database[T])[] }

// And a column the Database type has but the list above lacks fails the typecheck here.
type Unlisted = {
  [T in keyof Database]: Exclude<keyof Database[T], (typeof TYPED_COLUMNS)[T][number]>
}[keyof Database]
const everyTypedColumnListed: [Unlisted] extends [never] ? true : Unlisted = true

interface ColumnInfo {
  table_name: string
  column_name: string
  udt_name: string
}

let database: TestDatabase
let store: Store
let columns: ColumnInfo[]

beforeAll(async () => {
  database = await createTestDatabase()
  store = openPostgresStore({ connectionString: database.url })
  await migrateToLatest(store)
  columns = (
    await sql<ColumnInfo>`
      SELECT table_name, column_name, udt_name FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely_%'
       ORDER BY table_name, ordinal_position`.execute(store.db)
  ).rows
})

afterAll(async () => {
  await store?.close()
  await database?.drop()
})

const columnsOf = (table: string) => columns.filter((column) => column.table_name === table)

/** The name PostgreSQL gives a type as the sink writes it (int → int4, boolean → bool, …). */
const typeName = async (type: string) =>
  (await sql<{ typname: string }>`SELECT typname FROM pg_type WHERE oid = ${type}::regtype`.execute(store.db))
    .rows[0]?.typname

/** Each column of the list with the type its values are sent as, and the table's column of that name. */
const sentAndStored = async (table: string, list: readonly Column<never>[]) =>
  Promise.all(
    list.map(async ({ name, type }) => {
      const stored = columnsOf(table).find((column) => column.column_name === name)
      // char(n) columns are sent as text: the store pads it.
      const sent = await typeName(type)
      return {
        name,
        sent: stored?.udt_name === 'bpchar' && sent === 'text' ? 'bpchar' : sent,
        stored: stored?.udt_name,
      }
    }),
  )

describe('the store schema', () => {
  it('the Database type has every table and column the migrations create, and no other', () => {
    expect(everyTypedColumnListed).toBe(true)
    const migrated = Object.fromEntries(
      [...new Set(columns.map((column) => column.table_name))].map((table) => [
        table,
        columnsOf(table)
          .map((column) => column.column_name)
          .sort(),
      ]),
    )
    const typed = Object.fromEntries(
      Object.entries(TYPED_COLUMNS).map(([table, names]) => [table, [...names].sort()]),
    )
    expect(typed).toEqual(migrated)
  })

  it.each([
    { table: 'transactions', list: STORED_TRANSACTION_COLUMNS, defaulted: 'ingested_at' },
    { table: 'scores', list: SCORE_COLUMNS, defaulted: 'scored_at' },
  ])(
    'the pipeline writes every column of $table but $defaulted, in the table’s order, as its type',
    async ({ table, list, defaulted }) => {
      expect(list.map(({ name }) => name)).toEqual(
        columnsOf(table)
          .map((column) => column.column_name)
          .filter((name) => name !== defaulted),
      )
      for (const { name, sent, stored } of await sentAndStored(table, list)) expect(sent, name).toBe(stored)
    },
  )

  it('the alert columns the pipeline writes are alerts’ columns, as their types', async () => {
    for (const { name, sent, stored } of await sentAndStored('alerts', ALERT_COLUMNS))
      expect(sent, name).toBe(stored)
  })

  it('compresses users’ feature states with lz4 where the server has it (0016)', async () => {
    const [setting] = (
      await sql<{ lz4: boolean; method: string }>`
        SELECT 'lz4' = ANY (s.enumvals) AS lz4, a.attcompression::text AS method
          FROM pg_settings s, pg_attribute a
         WHERE s.name = 'default_toast_compression'
           AND a.attrelid = 'user_features'::regclass AND a.attname = 'state'`.execute(store.db)
    ).rows
    // Debian's PostgreSQL (this machine's, and CI's) is built with lz4.
    expect(setting).toEqual({ lz4: true, method: 'l' })
  })

  it('checkpoints rewriting the same users’ states leave the table its size (0010: room on each page)', async () => {
    // 2,000 users' states as the scorer grows them, written as a checkpoint writes them, then ten more
    // times, each time one transaction further on.
    const traffic = generateTraffic({ seed: 7, users: 2000 })
    const states = new Map<string, UserState>()
    const advance = (count: number) => {
      for (let i = 0; i < count; i++) {
        const { txn } = traffic.next().value
        const state = states.get(txn.user_id) ?? emptyUserState()
        advanceUserState(state, txn, Math.round(Number(txn.amount) * 100))
        states.set(txn.user_id, state)
      }
    }
    const size = async () =>
      Number(
        (await sql<{ size: string }>`SELECT pg_relation_size('user_features') AS size`.execute(store.db))
          .rows[0]?.size,
      )
    const write = () =>
      store.db.executeQuery(CompiledQuery.raw(COPY_PATH.states, [packedStatesJson(states), 'm1']))
    advance(20_000)
    await write()
    const first = await size()
    for (let round = 0; round < 10; round++) {
      advance(2000)
      await write()
    }
    const { count } = (await sql<{ count: string }>`SELECT count(*) FROM user_features`.execute(store.db))
      .rows[0] as { count: string }
    expect(Number(count)).toBe(states.size)
    // The states grow a little each round: with half of each page free (0010) the table ends at 1.7 times
    // its first size here; with full pages (fillfactor 100) nearly every new version goes to another
    // page: 14 times.
    expect(await size()).toBeLessThan(first * 4)
  })

  it('the arrays the pipeline sends as text read back as their values, whatever they hold', async () => {
    const read = async <T>(cast: string, values: readonly T[]) =>
      (
        await store.db.executeQuery<{ a: unknown[] }>(
          CompiledQuery.raw(`SELECT $1::${cast} AS a`, [
            arrayLiteral(values, (value) => value as string | null),
          ]),
        )
      ).rows[0]?.a
    const hostile = [
      'plain',
      '',
      'NULL',
      'null',
      'a,b',
      '{x}',
      ' spaced ',
      'quo"te',
      'back\\slash',
      '\\"',
      'tab\tnew\nline',
      'ünï ✓',
    ]
    expect(await read('text[]', hostile)).toEqual(hostile)
    expect(await read('text[]', [...hostile, null])).toEqual([...hostile, null])
    expect(await read('text[]', [null])).toEqual([null])
    expect(await read('text[]', [])).toEqual([])
    expect(await read('numeric[]::text[]', ['9839.64', 0.5, null])).toEqual(['9839.64', '0.5', null])
    expect(await read('boolean[]', [true, false, null])).toEqual([true, false, null])
    expect(await read('jsonb[]', ['["amount \\"high\\"", "a\\\\b"]'])).toEqual([['amount "high"', 'a\\b']])
  })

  it('pipeline_commit_batch takes the columns the pipeline writes, in their order, as their types', async () => {
    const [commit] = (
      await sql<{ names: string[]; types: string[] }>`
        SELECT proargnames AS names, ARRAY(
                 SELECT typ.typname::text FROM unnest(proargtypes::oid[]) WITH ORDINALITY AS arg(type, i)
                   JOIN pg_type typ ON typ.oid = arg.type ORDER BY arg.i) AS types
          FROM pg_proc WHERE proname = 'pipeline_commit_batch'`.execute(store.db)
    ).rows
    const written = STORED_TRANSACTION_COLUMNS
    expect(commit?.names.slice(4, 4 + written.length)).toEqual(written.map(({ name }) => `p_${name}`))
    const types = await Promise.all(written.map(({ type }) => typeName(`${type}[]`)))
    expect(commit?.types.slice(4, 4 + written.length)).toEqual(types)
  })
})
