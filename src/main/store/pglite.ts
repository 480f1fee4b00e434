import { PGlite } from '@electric-sql/pglite'

/** int8 (counts, identities) as a JS number; numeric stays a string so money is never a float. */
export const INT8_OID = 20
export const parseInt8 = (value: string): number => Number(value)

/** How PGlite returns values: the same for the store thread and for a PGlite opened in place. */
export const PGLITE_PARSERS = { [INT8_OID]: parseInt8 }

/**
 * PostgreSQL's memory sized to Local mode's data (the 20,000-line sample and an analyst's own work: tens
 * of MB, read through the OS file cache) instead of its defaults (128 MB of shared buffers, 64 MB for
 * maintenance). WebAssembly memory never shrinks, so whatever PostgreSQL touches once stays resident.
 */
export const SIZED_MEMORY = [
  '-c',
  'shared_buffers=16MB',
  '-c',
  'maintenance_work_mem=16MB',
  '-c',
  'temp_buffers=4MB',
] as const

/** The embedded store's PGlite, in a folder (or in memory without one), its memory sized to the data. */
export function openPGlite(dataDir: string | undefined): Promise<PGlite> {
  return PGlite.create(dataDir ?? 'memory://', {
    parsers: PGLITE_PARSERS,
    startParams: [...PGlite.defaultStartParams, ...SIZED_MEMORY],
  })
}
