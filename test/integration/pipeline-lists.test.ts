import { createServer, type AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TeamWorker } from '../../src/main/pipeline/team'
import { listenPostgres } from '../../src/main/store/store'
import { DEFAULT_RULES } from '../../src/shared/rules'
import type { Transaction } from '../../src/shared/transaction'
import {
  deleteKeys,
  migratedDatabase,
  produce,
  query,
  startWorker,
  testLayout,
  waitFor,
} from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'
import { txn } from '../support/transaction-fixture'

/**
 * A block takes effect from the worker's next batch: the store announces every change of the lists
 * (an entry added, its expiry moved, removed) and rules, and the worker reads them again at once. The worker here polls once an hour, so only the
 * announcement can make it see the change in time.
 */

const layout = testLayout(2)
let database: TestDatabase
let team: TeamWorker

beforeAll(async () => {
  database = await createTestDatabase('aether_lists')
  await migratedDatabase(database.url)
  team = startWorker({
    postgres: { url: database.url },
    redis: { url: SHARED_REDIS_URL },
    layout,
    rulesPollMs: 3_600_000,
  })
})

afterAll(async () => {
  await team?.close()
  await deleteKeys(SHARED_REDIS_URL, layout.prefix)
  await database?.drop()
})

/** Sends one transaction and waits until it is stored; gives its score. */
async function scored(transaction: Transaction) {
  await produce(SHARED_REDIS_URL, layout, [transaction])
  const [row] = await waitFor(
    `transaction ${transaction.txn_id} stored`,
    () =>
      query<{ decision: string; reasons: { rule: string }[]; rules_version: number }>(
        database.url,
        'SELECT decision, reasons, rules_version FROM scores WHERE txn_id = $1',
        [transaction.txn_id],
      ),
    (rows) => rows.length === 1,
    30_000,
  )
  return row as NonNullable<typeof row>
}

const now = () => Date.now()

describe('the store’s LISTEN', () => {
  it('keeps nothing open and tries no more when its first connection fails', async () => {
    // A server that takes connections and drops them at once: every attempt to connect shows here.
    let attempts = 0
    const server = createServer((socket) => {
      attempts++
      socket.destroy()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      const url = `postgresql://postgres@127.0.0.1:${port}/test`
      await expect(listenPostgres({ connectionString: url }, ['aether_scoring'], () => {})).rejects.toThrow()
      const tried = attempts
      // It would try again after 2 s if a retry were left running.
      await new Promise((resolve) => setTimeout(resolve, 2500))
      expect(attempts).toBe(tried)
    } finally {
      server.close()
    }
  })
})

describe('a worker scoring the stream', () => {
  it('blocks a user from the transaction right after the user is listed, and lets them through once lifted', async () => {
    const before = await scored(txn({ user_id: 'C-listed', at: now() }))
    expect(before.decision).toBe('approve')

    await query(
      database.url,
      `INSERT INTO lists (kind, value, reason) VALUES ('user', 'C-listed', 'takeover')`,
    )
    const blocked = await scored(txn({ user_id: 'C-listed', at: now() }))
    expect(blocked.decision).toBe('block')
    expect(blocked.reasons.map((reason) => reason.rule)).toContain('blocklist')

    // Lifted by giving the entry an expiry in the past, as the Lists screen does: an UPDATE.
    await query(
      database.url,
      `UPDATE lists SET expires_at = now() - interval '1 minute' WHERE value = 'C-listed'`,
    )
    const expired = await scored(txn({ user_id: 'C-listed', at: now() }))
    expect(expired.reasons.map((reason) => reason.rule)).not.toContain('blocklist')

    await query(database.url, `UPDATE lists SET expires_at = NULL WHERE value = 'C-listed'`)
    expect((await scored(txn({ user_id: 'C-listed', at: now() }))).decision).toBe('block')

    await query(database.url, `DELETE FROM lists WHERE kind = 'user' AND value = 'C-listed'`)
    const lifted = await scored(txn({ user_id: 'C-listed', at: now() }))
    expect(lifted.reasons.map((reason) => reason.rule)).not.toContain('blocklist')
  })

  it('scores with a rule set from the transaction right after it is saved', async () => {
    const first = await scored(txn({ user_id: 'C-rules', at: now() }))
    const version = (first.rules_version ?? DEFAULT_RULES.version) + 1
    await query(database.url, 'INSERT INTO rules (version, definition) VALUES ($1, $2)', [
      version,
      JSON.stringify(DEFAULT_RULES),
    ])
    expect((await scored(txn({ user_id: 'C-rules', at: now() }))).rules_version).toBe(version)
  })
})
