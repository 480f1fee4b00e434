import { afterAll, describe, expect, it } from 'vitest'
import { migrateToLatest, schemaState } from '../../src/main/store/migrate'
import { latestMigration } from '../../src/main/store/migrations'
import { openEmbeddedStore, openPostgresStore, type Store } from '../../src/main/store/store'
import { createTestDatabase, type TestDatabase } from '../support/services'

const tablesOf = async (store: Store) =>
  (await store.db.introspection.getTables()).map((table) => table.name).sort()

const EXPECTED_TABLES = [
  'alert_case_waits',
  'alerts',
  'analysts',
  'api_key_names',
  'api_keys',
  'audit_log',
  'case_events',
  'cases',
  'labels',
  'lists',
  'pipeline_partitions',
  'rules',
  'scores',
  'transactions',
  'triage_settings',
  'user_features',
  'webhook_deliveries',
]

describe.each([
  ['PGlite', async () => ({ store: await openEmbeddedStore(undefined), cleanup: async () => {} })],
  [
    'PostgreSQL',
    async () => {
      const database: TestDatabase = await createTestDatabase()
      return { store: openPostgresStore({ connectionString: database.url }), cleanup: database.drop }
    },
  ],
] as const)('migrations on %s', (_engine, open) => {
  const opened = open()
  afterAll(async () => {
    const { store, cleanup } = await opened
    await store.close()
    await cleanup()
  })

  it('creates the whole schema from nothing', async () => {
    const { store } = await opened
    expect((await schemaState(store)).current).toBeNull()
    const result = await migrateToLatest(store)
    expect(result.applied).toContain(latestMigration)
    expect(result.schemaVersion).toBe(latestMigration)
    expect(await tablesOf(store)).toEqual(EXPECTED_TABLES)
  })

  it('is a no-op when run again', async () => {
    const { store } = await opened
    const before = await tablesOf(store)
    const again = await migrateToLatest(store)
    expect(again.applied).toEqual([])
    expect(again.schemaVersion).toBe(latestMigration)
    expect(await tablesOf(store)).toEqual(before)
    expect((await schemaState(store)).pending).toEqual([])
  })

  it('enforces the data rules of the schema', async () => {
    const { store } = await opened
    const { sql } = await import('kysely')
    const insert = (amount: string) => sql`
      INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency)
      VALUES (gen_random_uuid(), now(), 'C1', 'M1', 'PAYMENT', ${amount}::numeric, 'USD')`
    await insert('12.34').execute(store.db)
    await expect(insert('-1').execute(store.db)).rejects.toThrow(/check/i)
    const ip = sql`INSERT INTO lists (kind, value, network, reason) VALUES ('ip', '10.0.0.0/8', '10.0.0.0/8', 'test')`
    await ip.execute(store.db)
    const { rows } = await sql<{ hit: boolean }>`
      SELECT EXISTS (SELECT 1 FROM lists WHERE network >>= '10.1.2.3'::inet) AS hit`.execute(store.db)
    expect(rows[0]?.hit).toBe(true)
  })
})
