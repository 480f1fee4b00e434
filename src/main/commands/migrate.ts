import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Command } from 'commander'
import { diagnosePostgres } from '../core/connection-check'
import { defaultDataDir } from '../core/paths'
import { withoutPassword } from '../core/profiles'
import { migrateToLatest } from '../store/migrate'
import { openEmbeddedStore, openPostgresStore, type Store } from '../store/store'

async function openTarget(options: {
  url?: string
  dataDir: string
}): Promise<{ store: Store; name: string }> {
  if (options.url !== undefined) {
    let split: ReturnType<typeof withoutPassword>
    try {
      split = withoutPassword(options.url)
    } catch {
      throw new Error(`--url is not a PostgreSQL URL: ${options.url}`)
    }
    const password = split.password ?? process.env.PGPASSWORD
    return {
      store: openPostgresStore({ connectionString: split.url, password, max: 1 }),
      name: split.url,
    }
  }
  const dir = join(options.dataDir, 'local-store')
  await mkdir(dir, { recursive: true })
  return { store: await openEmbeddedStore(dir), name: `the embedded store in ${dir}` }
}

export function registerMigrate(program: Command) {
  program
    .command('migrate')
    .description('Bring a store’s schema up to date (running it again changes nothing)')
    .option('--url <postgres-url>', 'a team PostgreSQL (password from the URL or PGPASSWORD)')
    .option('--data-dir <dir>', 'user-data folder holding the embedded store', defaultDataDir())
    .action(async (options: { url?: string; dataDir: string }) => {
      const { store, name } = await openTarget(options)
      try {
        const result = await migrateToLatest(store).catch((error: unknown) => {
          if (options.url === undefined || (error as { cause?: unknown }).cause === undefined) throw error
          throw new Error(diagnosePostgres((error as { cause: unknown }).cause, options.url).message)
        })
        if (result.applied.length === 0)
          console.log(`Schema of ${name} is current (${result.schemaVersion}).`)
        else
          console.log(`Applied ${result.applied.join(', ')} to ${name}; schema is ${result.schemaVersion}.`)
      } finally {
        await store.close()
      }
    })
}
