import { fileURLToPath } from 'node:url'
import { InvalidArgumentError, type Command } from 'commander'
import { defaultDataDir } from '../core/paths'
import { createRouter } from '../core/router'
import { APP_VERSION } from '../core/version'
import { Workstation } from '../core/workstation'
import { startHost } from '../host/server'
import { KeychainSecrets } from '../secrets/keychain'

const port = (value: string) => {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535)
    throw new InvalidArgumentError('a port is a whole number from 0 to 65535 (0 picks a free one)')
  return parsed
}

/** The built renderer sits beside the built CLI: out/main/cli.js → out/renderer. */
const rendererDir = () => fileURLToPath(new URL('../renderer/', import.meta.url))

export function registerServe(program: Command) {
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
}
