import { fileURLToPath } from 'node:url'
import { Command, CommanderError, InvalidArgumentError } from 'commander'
import { defaultDataDir } from './core/paths'
import { withoutPassword } from './core/profiles'
import { createRouter } from './core/router'
import { APP_VERSION } from './core/version'
import { Workstation } from './core/workstation'
import { startHost } from './host/server'
import { KeychainSecrets } from './secrets/keychain'
import { migrateToLatest } from './store/migrate'
import { openEmbeddedStore, openPostgresStore, type Store } from './store/store'
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'

/** `aether`: the workstation's command line. Every command has --help; errors are one readable line. */

const port = (value: string) => {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535)
    throw new InvalidArgumentError('a port is a whole number from 0 to 65535 (0 picks a free one)')
  return parsed
}

const rendererDir = () => fileURLToPath(new URL('../renderer/', import.meta.url))

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

export function buildCli(): Command {
  const program = new Command('aether')
    .description('Aether Workstation: the fraud analyst’s desktop, its workers and tools')
    .version(APP_VERSION)
    .showHelpAfterError('(run with --help for usage)')

  program
    .command('migrate')
    .description('Bring a store’s schema up to date (running it again changes nothing)')
    .option('--url <postgres-url>', 'a team PostgreSQL (password from the URL or PGPASSWORD)')
    .option('--data-dir <dir>', 'user-data folder holding the embedded store', defaultDataDir())
    .action(async (options: { url?: string; dataDir: string }) => {
      const { store, name } = await openTarget(options)
      try {
        const result = await migrateToLatest(store)
        if (result.applied.length === 0)
          console.log(`Schema of ${name} is current (${result.schemaVersion}).`)
        else
          console.log(`Applied ${result.applied.join(', ')} to ${name}; schema is ${result.schemaVersion}.`)
      } finally {
        await store.close()
      }
    })

  program
    .command('serve')
    .description('Serve the workstation to a browser on 127.0.0.1, with a per-launch token')
    .option('--port <port>', 'port on 127.0.0.1 (0 picks a free one)', port, 0)
    .option('--data-dir <dir>', 'user-data folder (profiles, embedded store)', defaultDataDir())
    .action(async (options: { port: number; dataDir: string }) => {
      const workstation = new Workstation({
        dataDir: options.dataDir,
        secrets: new KeychainSecrets(process.env.AETHER_KEYCHAIN_SERVICE),
        version: APP_VERSION,
      })
      const status = await workstation.start()
      if (status.state === 'error')
        console.error(`Warning: ${status.message ?? 'the active profile failed to open'}`)
      const host = await startHost({
        router: createRouter(workstation),
        rendererDir: rendererDir(),
        port: options.port,
      })
      console.log(`Aether Workstation ${APP_VERSION} (${status.profileName}) is at:\n  ${host.url}`)
      const stop = async () => {
        await host.close()
        await workstation.close()
        process.exit(0)
      }
      process.once('SIGINT', () => void stop())
      process.once('SIGTERM', () => void stop())
    })

  return program
}

export async function main(argv: string[]): Promise<number> {
  const program = buildCli().exitOverride()
  try {
    await program.parseAsync(argv)
    return 0
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode
    console.error(`aether: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
}
