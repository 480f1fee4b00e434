import { sql } from 'kysely'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { migrateToLatest } from '../../src/main/store/migrate'
import { readScoringConfig } from '../../src/main/store/scoring-config'
import { openPostgresStore, type Store } from '../../src/main/store/store'
import { DEFAULT_RULES } from '../../src/shared/rules'
import { createTestDatabase, type TestDatabase } from '../support/services'

/** readScoringConfig: what anything deciding as the pipeline does (the gateway) reads from the store. */

let database: TestDatabase
let store: Store

beforeAll(async () => {
  database = await createTestDatabase()
  store = openPostgresStore({ connectionString: database.url })
  await migrateToLatest(store)
})

// Each test starts from a store with no saved rules and no lists.
beforeEach(async () => {
  await store.db.deleteFrom('rules').execute()
  await store.db.deleteFrom('lists').execute()
})

afterAll(async () => {
  await store?.close()
  await database?.drop()
})

const saveRules = (version: number, definition: unknown) =>
  store.db
    .insertInto('rules')
    .values({ version, definition: JSON.stringify(definition), comment: `version ${version}` })
    .execute()

describe('readScoringConfig', () => {
  it('has the built-in rules and no lists in a new store', async () => {
    const config = await readScoringConfig(store.db)
    expect(config.rules).toEqual(DEFAULT_RULES)
    expect(config.rulesProblem).toBeUndefined()
    expect(config.lists.isListed('user', 'C1')).toBe(false)
  })

  it('reads the newest saved rule set and the list entries in force, not the expired ones', async () => {
    const stricter = { ...DEFAULT_RULES, thresholds: { review: 30, block: 70 } }
    await saveRules(1, DEFAULT_RULES)
    await saveRules(2, stricter)
    await store.db
      .insertInto('lists')
      .values([
        { kind: 'user', value: 'C9', reason: 'mule' },
        { kind: 'device', value: 'd-old', reason: 'lifted', expires_at: new Date(Date.now() - 60_000) },
        { kind: 'ip', value: '10.0.0.0/8', network: sql<string>`'10.0.0.0/8'::cidr`, reason: 'range' },
      ])
      .execute()

    const config = await readScoringConfig(store.db)
    expect(config.rules).toEqual({ ...stricter, version: 2 })
    expect(config.lists.isListed('user', 'C9')).toBe(true)
    expect(config.lists.isListed('device', 'd-old')).toBe(false)
    expect(config.lists.isIpListed('10.1.2.3')).toBe(true)
    expect(config.lists.isIpListed('11.1.2.3')).toBe(false)
  })

  it('keeps scoring with the built-in rules when the newest saved set is not valid, and says why', async () => {
    await saveRules(1, DEFAULT_RULES)
    await saveRules(2, { thresholds: { review: 'high' } })
    const config = await readScoringConfig(store.db)
    expect(config.rules).toEqual(DEFAULT_RULES)
    expect(config.rulesProblem).toMatch(/Rule set version 2 is not valid/)
  })
})
