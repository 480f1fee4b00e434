import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import pg from 'pg'
import { scramVerifier } from '../../src/main/security/scram'
import { migrateToLatest } from '../../src/main/store/migrate'
import { openPostgresStore, type Store } from '../../src/main/store/store'
import { currentAnalyst } from '../../src/main/triage/analysts'
import type { Analyst } from '../../src/shared/triage-contract'
import type { Decision, Reason, TransactionType } from '../../src/shared/transaction'
import { createTestDatabase, uniqueName, type TestDatabase } from './services'

/**
 * A team database of the triage tests' own: migrated by its owner, with analysts who are real
 * PostgreSQL login roles in the real group roles, each with a pool of their own connections, so every
 * permission and row-level security policy applies as it would on shift.
 */

export interface SignedIn {
  store: Store
  analyst: Analyst
}

export interface TeamDatabase {
  database: TestDatabase
  owner: Store
  signIn(role: 'analyst' | 'supervisor' | 'admin', displayName: string): Promise<SignedIn>
  dispose(): Promise<void>
}

export async function openTeamDatabase(): Promise<TeamDatabase> {
  const database = await createTestDatabase('aether_triage')
  const owner = openPostgresStore({ connectionString: database.url })
  await migrateToLatest(owner)
  const logins: string[] = []
  const stores: Store[] = []
  return {
    database,
    owner,
    async signIn(role, displayName) {
      const login = uniqueName(displayName.toLowerCase()).slice(0, 60)
      logins.push(login)
      await sql`SELECT aether_add_analyst(${login}, ${displayName}, ${role}, ${scramVerifier('not-used-with-trust-auth')})`.execute(
        owner.db,
      )
      const url = new URL(database.url)
      url.username = login
      const store = openPostgresStore({ connectionString: url.toString(), max: 4 })
      stores.push(store)
      return { store, analyst: await currentAnalyst(store.db, 'team') }
    },
    async dispose() {
      for (const store of stores) await store.close()
      await owner.close()
      await database.drop()
      const admin = new pg.Client({ connectionString: database.url.replace(/\/[^/]*$/, '/postgres') })
      await admin.connect()
      try {
        for (const login of logins) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(login)}`)
      } finally {
        await admin.end()
      }
    },
  }
}

export interface SeedTransaction {
  userId: string
  counterpartyId?: string
  type?: TransactionType
  amount?: string
  ts?: Date
  sourceIp?: string
  deviceId?: string
  score?: number
  decision?: Decision
  reasons?: Reason[]
  label?: boolean
}

/** Writes scored transactions and alerts as the pipeline does: one transaction, alerts with no case. */
export async function seedScored(store: Store, rows: SeedTransaction[]): Promise<string[]> {
  const ids = rows.map(() => randomUUID())
  await store.db.transaction().execute(async (trx) => {
    for (const [index, row] of rows.entries()) {
      const id = ids[index] as string
      const decision = row.decision ?? 'approve'
      const score = row.score ?? (decision === 'block' ? 90 : decision === 'review' ? 55 : 5)
      const reasons = JSON.stringify(row.reasons ?? [])
      await sql`
        INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency, source_ip, device_id, label,
                                  score, decision, reasons, model_version, rules_version)
        VALUES (${id}, ${row.ts ?? new Date()}, ${row.userId}, ${row.counterpartyId ?? 'M1'}, ${row.type ?? 'TRANSFER'},
                ${row.amount ?? '100.00'}, 'USD', ${row.sourceIp ?? null}, ${row.deviceId ?? null}, ${row.label ?? null},
                ${score}, ${decision}, ${reasons}::jsonb, 'test', 1)`.execute(trx)
      if (decision !== 'approve')
        await sql`INSERT INTO alerts (txn_id, score, decision, reasons) VALUES (${id}, ${score}, ${decision}, ${reasons}::jsonb)`.execute(
          trx,
        )
    }
  })
  return ids
}

export const reason = (rule: string, text: string): Reason => ({ rule, text, weight: 30 })
