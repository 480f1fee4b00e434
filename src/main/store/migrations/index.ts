import type { Migration } from 'kysely'
import * as initial from './0001_initial'

/**
 * Every migration, in order. Imported statically so the bundle carries them; names sort in
 * applying order, and a name once released never changes.
 */
export const migrations: Record<string, Migration> = {
  '0001_initial': initial,
}

export const latestMigration = Object.keys(migrations).sort().at(-1) ?? ''
