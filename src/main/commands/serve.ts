import { fileURLToPath } from 'node:url'
import { InvalidArgumentError, type Command } from 'commander'
import { defaultDataDir } from '../core/paths'
import { createRouter } from '../core/router'
import { APP_VERSION } from '../core/version'
import { Workstation } from '../core/workstation'
import { startHost } from '../host/server'
import { createLogger, logLevelOption, type LogLevel } from '../ops/log'
import { createRegistry, serveMetrics, type MetricsServer } from '../ops/metrics'
import { registerPipelineMetrics } from '../pipeline/metrics'
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
    .option(
      '--metrics-port <port>',
      'Prometheus /metrics on 127.0.0.1 (0 picks a free one; default: none)',
      port,
    )
    .addOption(logLevelOption())
    .action(async (options: { port: number; dataDir: string; metricsPort?: number; logLevel: LogLevel }) => {
      const logger = createLogger({ role: 'serve', level: options.logLevel })
      const workstation = new Workstation({
        dataDir: options.dataDir,
        secrets: new KeychainSecrets(process.env.AETHER_KEYCHAIN_SERVICE),
        version: APP_VERSION,
      })
      const status = await workstation.start()
      if (status.state === 'error')
        logger.warn({ profile: status.profileName }, status.message ?? 'the active profile failed to open')
      const host = await startHost({
        router: createRouter(workstation),
        rendererDir: rendererDir(),
        port: options.port,
      })
      console.log(`Aether Workstation ${APP_VERSION} (${status.profileName}) is at:\n  ${host.url}`)
      let metrics: MetricsServer | undefined
      if (options.metricsPort !== undefined) {
        const registry = createRegistry('serve')
        // The embedded pipeline's status, the one its Pipeline health shows: the two never disagree.
        registerPipelineMetrics(registry, async () => {
          const pipeline = await workstation.pipeline.status()
          return pipeline.state === 'off' ? [] : [{ status: pipeline }]
        })
        metrics = await serveMetrics(options.metricsPort, registry)
        console.log(`Metrics at http://127.0.0.1:${metrics.port}/metrics`)
      }
      logger.info({ profile: status.profileName, metricsPort: metrics?.port ?? null }, 'serving')
      const stop = async () => {
        await metrics?.close()
        await host.close()
        await workstation.close()
        process.exit(0)
      }
      process.once('SIGINT', () => void stop())
      process.once('SIGTERM', () => void stop())
    })
}
