import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import pg from 'pg'
import { AnalystDirectory } from '../../../src/main/security/analysts'
import { migrateToLatest } from '../../../src/main/store/migrate'
import { openPostgresStore, type Store } from '../../../src/main/store/store'
import { createTestDatabase, SHARED_POSTGRES_URL, type TestDatabase } from '../../support/services'

export const MEMBERS = ['analyst', 'analyst2', 'supervisor', 'admin', 'ingest', 'nobody'] as const
export type Member = (typeof MEMBERS)[number]
export const GROUPS = ['analyst', 'supervisor', 'admin', 'ingest', 'worker'] as const
export type Group = (typeof GROUPS)[number]

export interface TeamDatabase {
  database: TestDatabase
  /** The schema owner's store (the shared server's superuser, as `aether migrate` runs it). */
  owner: Store
  logins: Record<Member, string>
  /** This database's own group roles (migration 0007), as aether_team_role() names them. */
  groups: Record<Group, string>
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
 * administration functions, the worker as a member of this database's ingest group, and a login in no
 * group at all. That last one is granted CONNECT, as if by mistake, so what it may do once connected is
 * tried too. The database's group roles are dropped with it (test/support/services.ts).
 */
export async function openTeamDatabase(): Promise<TeamDatabase> {
  const suffix = randomBytes(4).toString('hex')
  const database = await createTestDatabase('aether_sec')
  const owner = openPostgresStore({ connectionString: database.url, max: 2 })
  const created = new Set<string>()
  const groups = {} as Record<Group, string>
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
    for (const group of GROUPS) {
      const { rows } = await sql<{ name: string }>`SELECT aether_team_role(${group}) AS name`.execute(
        owner.db,
      )
      groups[group] = rows[0]?.name ?? ''
    }
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
      .raw(
        `CREATE ROLE ${pg.escapeIdentifier(track(logins.ingest))} LOGIN IN ROLE ${pg.escapeIdentifier(groups.ingest)}`,
      )
      .execute(owner.db)
    await sql.raw(`CREATE ROLE ${pg.escapeIdentifier(track(logins.nobody))} LOGIN`).execute(owner.db)
    await sql
      .raw(`GRANT CONNECT ON DATABASE ${database.name} TO ${pg.escapeIdentifier(logins.nobody)}`)
      .execute(owner.db)
  } catch (error) {
    await dispose()
    throw error
  }

  return {
    database,
    owner,
    logins,
    groups,
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
