import { Migrator, type Kysely, type MigrationResultSet } from 'kysely'
import { Refusal } from '../errors'
import { latestMigration, migrations } from './migrations'
import type { Store } from './store'

const migrator = (store: Store) =>
  new Migrator({
    db: store.db,
    provider: { getMigrations: async () => migrations },
  })

export interface SchemaState {
  current: string | null
  latest: string
  pending: string[]
  /** Migrations in the database that this build does not know: the database is newer than the app. */
  unknown: string[]
}

export async function schemaState(store: Store): Promise<SchemaState> {
  const infos = await migrator(store).getMigrations()
  const applied = infos.filter((info) => info.executedAt !== undefined).map((info) => info.name)
  const known = new Set(Object.keys(migrations))
  const unknown = await appliedNamesNotIn(store, known)
  return {
    current: [...applied, ...unknown].sort().at(-1) ?? null,
    latest: latestMigration,
    pending: infos.filter((info) => info.executedAt === undefined).map((info) => info.name),
    unknown,
  }
}

async function appliedNamesNotIn(store: Store, known: Set<string>): Promise<string[]> {
  const tables = await store.db.introspection.getTables({ withInternalKyselyTables: true })
  if (!tables.some((table) => table.name === 'kysely_migration')) return []
  const rows = await (store.db as Kysely<{ kysely_migration: { name: string } }>)
    .selectFrom('kysely_migration')
    .select('name')
    .execute()
  return rows.map((row) => row.name).filter((name) => !known.has(name))
}

export class MigrationError extends Refusal {
  constructor(
    message: string,
    readonly failed: string | undefined,
    override readonly cause: unknown,
  ) {
    super('UNAVAILABLE', message)
    this.name = 'MigrationError'
  }
}

/** Applies every pending migration; running it again is a no-op. Concurrent runs are serialized by a lock. */
export async function migrateToLatest(
  store: Store,
): Promise<{ applied: string[]; schemaVersion: string | null }> {
  const { results, error } = await migrator(store).migrateToLatest()
  const applied = succeeded(results)
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName
    const reason = error instanceof Error ? error.message : String(error)
    throw new MigrationError(`Migration ${failed ?? '(setup)'} failed: ${reason}`, failed, error)
  }
  const state = await schemaState(store)
  return { applied, schemaVersion: state.current }
}

function succeeded(results: MigrationResultSet['results']): string[] {
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName)
}
