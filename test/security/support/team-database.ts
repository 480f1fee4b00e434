import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import pg from 'pg'
import { AnalystDirectory } from '../../../src/main/security/analysts'
import { migrateToLatest } from '../../../src/main/store/migrate'
import { openPostgresStore, type Store } from '../../../src/main/store/store'
import { createTestDatabase, SHARED_POSTGRES_URL, type TestDatabase } from '../../support/services'

export const MEMBERS = ['analyst', 'analyst2', 'supervisor', 'admin', 'ingest', 'nobody'] as const
export type Member = (typeof MEMBERS)[number]

export interface TeamDatabase {
  database: TestDatabase
  /** The schema owner's store (the shared server's superuser, as `aether migrate` runs it). */
  owner: Store
  logins: Record<Member, string>
  /** A connection as this login, closed by dispose(). */
  connect(login: string): Promise<pg.Client>
  /** Login roles are cluster-wide: every one a test creates must be registered here to be dropped. */
  track(login: string): string
  dispose(): Promise<void>
}

export const urlAs = (databaseUrl: string, login: string) => {
  const url = new URL(databaseUrl)
  url.username = login
  url.password = ''
  return url.toString()
}

/**
 * A fresh database on the shared PostgreSQL with the whole schema, one login per kind of member
 * (unique names, dropped afterwards), created the way a team creates them: analysts through the
 * administration functions, the worker as a member of aether_ingest, and a login in no group at all.
 */
export async function openTeamDatabase(): Promise<TeamDatabase> {
  const suffix = randomBytes(4).toString('hex')
  const database = await createTestDatabase('aether_sec')
  const owner = openPostgresStore({ connectionString: database.url, max: 2 })
  const created = new Set<string>()
  const clients: pg.Client[] = []
  const logins = Object.fromEntries(MEMBERS.map((member) => [member, `sec_${member}_${suffix}`])) as Record<
    Member,
    string
  >
  const track = (login: string) => {
    created.add(login)
    return login
  }

  const dispose = async () => {
    await Promise.all(clients.map((client) => client.end().catch(() => {})))
    await owner.close()
    await database.drop()
    const admin = new pg.Client({ connectionString: SHARED_POSTGRES_URL })
    await admin.connect()
    try {
      for (const login of created) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(login)}`)
    } finally {
      await admin.end()
    }
  }

  try {
    await migrateToLatest(owner)
    const directory = new AnalystDirectory(owner.db)
    for (const role of ['analyst', 'supervisor', 'admin'] as const)
      await directory.add({
        login: track(logins[role]),
        displayName: `Test ${role}`,
        role,
        password: randomBytes(16).toString('hex'),
      })
    await directory.add({
      login: track(logins.analyst2),
      displayName: 'Test second analyst',
      role: 'analyst',
      password: randomBytes(16).toString('hex'),
    })
    await sql
      .raw(`CREATE ROLE ${pg.escapeIdentifier(track(logins.ingest))} LOGIN IN ROLE aether_ingest`)
      .execute(owner.db)
    await sql.raw(`CREATE ROLE ${pg.escapeIdentifier(track(logins.nobody))} LOGIN`).execute(owner.db)
  } catch (error) {
    await dispose()
    throw error
  }

  return {
    database,
    owner,
    logins,
    track,
    connect: async (login) => {
      const client = new pg.Client({ connectionString: urlAs(database.url, login) })
      client.on('error', () => {})
      await client.connect()
      clients.push(client)
      return client
    },
    dispose,
  }
}
