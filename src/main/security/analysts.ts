import { sql } from 'kysely'
import type { Analyst, AnalystRole } from '../../shared/session-contract'
import type { RefusalCode } from '../../shared/errors'
import { Refusal } from '../errors'
import type { StoreDb } from '../store/schema'
import { scramVerifier } from './scram'

export type AnalystAdminFailure = 'forbidden' | 'conflict' | 'not_found' | 'invalid' | 'outdated'

const CODES: Record<AnalystAdminFailure, RefusalCode> = {
  forbidden: 'FORBIDDEN',
  conflict: 'CONFLICT',
  not_found: 'NOT_FOUND',
  invalid: 'BAD_REQUEST',
  outdated: 'UNAVAILABLE',
}

/** A refusal from the database's analyst administration, with its reason in words. */
export class AnalystAdminError extends Refusal {
  constructor(
    readonly failure: AnalystAdminFailure,
    message: string,
  ) {
    super(CODES[failure], message)
    this.name = 'AnalystAdminError'
  }
}

interface AnalystRow {
  login: string
  display_name: string
  role: AnalystRole
  ingests: boolean
  disabled_at: Date | string | null
  created_at: Date | string
}

const iso = (value: Date | string) => new Date(value).toISOString()

const toAnalyst = (row: AnalystRow): Analyst => ({
  login: row.login,
  displayName: row.display_name,
  role: row.role,
  ingests: row.ingests,
  disabledAt: row.disabled_at === null ? null : iso(row.disabled_at),
  createdAt: iso(row.created_at),
})

const COLUMNS = sql.raw('login, display_name, role, ingests, disabled_at, created_at')

/** PostgreSQL's refusals, as the administrator should read them. */
function translate(error: unknown): never {
  const code = (error as { code?: string }).code
  const message = error instanceof Error ? error.message : String(error)
  if (code === '42501')
    throw new AnalystAdminError(
      'forbidden',
      /permission denied for function/.test(message)
        ? 'Only administrators manage analysts; this account is not one.'
        : message,
    )
  if (code === '42710') throw new AnalystAdminError('conflict', message)
  if (code === 'P0002') throw new AnalystAdminError('not_found', message)
  if (code === '22023' || code === '28P01') throw new AnalystAdminError('invalid', message)
  if (code === '42883')
    throw new AnalystAdminError(
      'outdated',
      'This database has no analyst administration yet: run `aether migrate` on it first.',
    )
  throw error
}

/**
 * Analyst administration over a connection of the administrator's own: it calls the SECURITY
 * DEFINER functions of migrations 0002 and 0007, so PostgreSQL decides who may, not this code. Every
 * call is about this database only: disabling or re-roling here leaves the login's other databases be.
 */
export class AnalystDirectory {
  constructor(private readonly db: StoreDb) {}

  async list(): Promise<Analyst[]> {
    const { rows } = await sql<AnalystRow>`SELECT ${COLUMNS} FROM analysts ORDER BY login`
      .execute(this.db)
      .catch(translate)
    return rows.map(toAnalyst)
  }

  /**
   * This database's own group roles (migrations 0007, 0024): an `aether worker` login is granted the worker
   * one (ingest, and the team webhook it posts), a gateway's login the ingest one.
   */
  async groups(): Promise<Record<AnalystRole | 'ingest' | 'worker', string>> {
    const { rows } = await sql<Record<AnalystRole | 'ingest' | 'worker', string>>`
      SELECT aether_team_role('analyst') AS analyst, aether_team_role('supervisor') AS supervisor,
             aether_team_role('admin') AS admin, aether_team_role('ingest') AS ingest,
             aether_team_role('worker') AS worker`
      .execute(this.db)
      .catch(translate)
    const row = rows[0]
    if (row === undefined) throw new Error('aether_team_role() returned no row')
    return row
  }

  /** Whether the server already has this login (an analyst of another team database, say). */
  async loginExists(login: string): Promise<boolean> {
    const { rows } = await sql<{ found: boolean }>`
      SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${login}) AS found`
      .execute(this.db)
      .catch(translate)
    return rows[0]?.found === true
  }

  /**
   * Adds an analyst to this database: a new login needs its first password; a login the server already
   * has joins without one (its password is the same for every database, so it is never set here).
   */
  add(input: { login: string; displayName: string; role: AnalystRole; password?: string }): Promise<Analyst> {
    const verifier = input.password === undefined ? null : scramVerifier(input.password)
    return this.one(
      sql<AnalystRow>`SELECT ${COLUMNS}
        FROM aether_add_analyst(${input.login}, ${input.displayName}, ${input.role}, ${verifier})`,
    )
  }

  disable(login: string): Promise<Analyst> {
    return this.one(sql<AnalystRow>`SELECT ${COLUMNS} FROM aether_disable_analyst(${login})`)
  }

  enable(login: string): Promise<Analyst> {
    return this.one(sql<AnalystRow>`SELECT ${COLUMNS} FROM aether_enable_analyst(${login})`)
  }

  setRole(login: string, role: AnalystRole): Promise<Analyst> {
    return this.one(sql<AnalystRow>`SELECT ${COLUMNS} FROM aether_set_analyst_role(${login}, ${role})`)
  }

  setIngest(login: string, ingests: boolean): Promise<Analyst> {
    return this.one(sql<AnalystRow>`SELECT ${COLUMNS} FROM aether_set_analyst_ingest(${login}, ${ingests})`)
  }

  private async one(query: ReturnType<typeof sql<AnalystRow>>): Promise<Analyst> {
    const { rows } = await query.execute(this.db).catch(translate)
    const row = rows[0]
    if (row === undefined) throw new Error('The analyst administration function returned no row')
    return toAnalyst(row)
  }
}
