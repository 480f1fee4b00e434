import { userInfo } from 'node:os'
import { sql } from 'kysely'
import type { AppMode } from '../../shared/contract'
import { AnalystRole, type Analyst } from '../../shared/triage-contract'
import type { StoreDb } from '../store/schema'
import { TriageForbiddenError } from './errors'

/**
 * Who is triaging. In Team mode the database session is the analyst's own login, so session_user names
 * them and the analysts table gives their role. In Local mode the embedded store has one owner, and the
 * analyst is whoever is signed in to this computer: their row carries the owner's login (so audit rows
 * written by the database resolve to it) and their OS user name. A Team database's owner (an operator)
 * is registered as an admin under their login on first use.
 */

const toAnalyst = (row: { id: number; login: string; display_name: string; role: string }): Analyst => ({
  id: row.id,
  login: row.login,
  displayName: row.display_name,
  role: AnalystRole.parse(row.role),
})

const localDisplayName = (): string => {
  try {
    return userInfo().username || 'Local analyst'
  } catch {
    return 'Local analyst'
  }
}

export async function currentAnalyst(db: StoreDb, mode: AppMode): Promise<Analyst> {
  const { rows } = await sql<{ login: string }>`SELECT session_user AS login`.execute(db)
  const login = rows[0]?.login ?? ''
  const found = await db
    .selectFrom('analysts')
    .select(['id', 'login', 'display_name', 'role', 'disabled_at'])
    .where('login', '=', login)
    .executeTakeFirst()
  if (found !== undefined) {
    if (found.disabled_at !== null) throw new TriageForbiddenError(`The analyst login ${login} is disabled.`)
    return toAnalyst(found)
  }
  if (mode === 'local' || (await ownsSchema(db))) {
    const created = await db
      .insertInto('analysts')
      .values({ login, display_name: mode === 'local' ? localDisplayName() : login, role: 'admin' })
      .onConflict((conflict) => conflict.column('login').doUpdateSet({ login }))
      .returning(['id', 'login', 'display_name', 'role'])
      .executeTakeFirstOrThrow()
    return toAnalyst(created)
  }
  throw new TriageForbiddenError(
    `The database login ${login} is not registered as an analyst. Ask an admin to run \`aether analyst add ${login}\`.`,
  )
}

/** The schema's owner (an operator's login in Team mode) triages as an admin without being registered. */
async function ownsSchema(db: StoreDb): Promise<boolean> {
  const { rows } = await sql<{ owner: boolean }>`
    SELECT pg_has_role(session_user, (SELECT relowner FROM pg_class WHERE oid = 'public.cases'::regclass), 'USAGE') AS owner`.execute(
    db,
  )
  return rows[0]?.owner === true
}

export async function listAnalysts(db: StoreDb): Promise<Analyst[]> {
  const rows = await db
    .selectFrom('analysts')
    .select(['id', 'login', 'display_name', 'role'])
    .where('disabled_at', 'is', null)
    .orderBy('display_name')
    .execute()
  return rows.map(toAnalyst)
}

/** Display names by login, for audit rows and "changed by" messages; unknown logins show as themselves. */
export async function displayNames(db: StoreDb, logins: Iterable<string>): Promise<Map<string, string>> {
  const wanted = [...new Set(logins)]
  const names = new Map(wanted.map((login) => [login, login]))
  if (wanted.length === 0) return names
  const rows = await db
    .selectFrom('analysts')
    .select(['login', 'display_name'])
    .where('login', 'in', wanted)
    .execute()
  for (const row of rows) names.set(row.login, row.display_name)
  return names
}
