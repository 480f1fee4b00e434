import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { createSecureContext } from 'node:tls'
import { InvalidArgumentError, type Command } from 'commander'
import { withoutPassword } from '../core/profiles'
import { APP_VERSION } from '../core/version'
import { startGateway } from '../gateway/start'
import { addSecret, createLogger, lineLogger, logLevelOption, type LogLevel } from '../ops/log'
import {
  aheadHoursOption,
  earliestTsOption,
  partitionsOption,
  prefixOption,
  postgresUrl,
  redisUrl,
  timeWindowOf,
  wholeNumber,
} from '../pipeline/cli-options'
import { validateLayout } from '../pipeline/partitioning'

interface GatewayCommandOptions {
  postgresUrl: string
  redisUrl: string
  host: string
  port: number
  tlsCert?: string
  tlsKey?: string
  trustProxy?: string[]
  budgetMs: number
  metricsPort?: number
  prefix: string
  partitions: number
  rateLimit: { max: number; windowMs: number }
  maxBacklog: number
  earliestTs: string
  aheadHours: number
  logLevel: LogLevel
}

const WINDOWS: Record<string, number> = { s: 1000, min: 60_000, h: 3_600_000 }

/** "1000/s", "600/min", "10000/h": requests per window. */
const rateLimit = (value: string) => {
  const match = /^(\d{1,9})\/(s|min|h)$/.exec(value.trim())
  if (match === null || Number(match[1]) < 1)
    throw new InvalidArgumentError('a rate such as 1000/s, 600/min or 10000/h')
  return { max: Number(match[1]), windowMs: WINDOWS[match[2] as string] as number }
}

/*
 * The TLS files are checked in the action, so their errors are plain Errors: `aether` prints those as
 * `aether: …`, while a commander error thrown from an action would end the command without a word.
 */

/** --trust-proxy: addresses and CIDRs (10.0.0.0/8, ::1), comma-separated. */
export const trustedProxies = (value: string): string[] => {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
  if (entries.length === 0) throw new InvalidArgumentError('name at least one address or CIDR')
  for (const entry of entries) {
    const [address = '', bits, ...rest] = entry.split('/')
    const family = isIP(address)
    const prefixOk =
      bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32))
    if (family === 0 || !prefixOk || rest.length > 0)
      throw new InvalidArgumentError(`"${entry}" is not an IP address or a CIDR such as 10.0.0.0/8`)
  }
  return entries
}

const readPem = (what: string, path: string): Buffer => {
  try {
    return readFileSync(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (error as Error).message
    throw new Error(`${what} ${path} cannot be read: ${why}`, { cause: error })
  }
}

/** The certificate and its key, read and checked before anything starts: a bad file is named. */
export function readTls(certPath: string, keyPath: string): { cert: Buffer; key: Buffer } {
  const cert = readPem('--tls-cert', certPath)
  const key = readPem('--tls-key', keyPath)
  const check = (options: { cert?: Buffer; key?: Buffer }, problem: string) => {
    try {
      createSecureContext(options)
    } catch (error) {
      throw new Error(`${problem} (${(error as Error).message})`, { cause: error })
    }
  }
  check({ cert }, `--tls-cert ${certPath} is not a PEM certificate`)
  check({ key }, `--tls-key ${keyPath} is not a PEM private key`)
  check({ cert, key }, `--tls-key ${keyPath} is not the private key of --tls-cert ${certPath}`)
  return { cert, key }
}

export function registerGateway(program: Command) {
  program
    .command('gateway')
    .description(
      'Serve the Decision API: producers POST transactions with an API key and get the stored decision',
    )
    .requiredOption(
      '--postgres-url <url>',
      'the team PostgreSQL, as a login of the ingest group (password from the URL or PGPASSWORD)',
      postgresUrl,
    )
    .option('--redis-url <url>', 'the team Redis', redisUrl, 'redis://127.0.0.1:6379')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', wholeNumber('--port', 0, 65535), 8080)
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM), with --tls-key')
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option(
      '--trust-proxy <addresses>',
      "the reverse proxies in front of the gateway (addresses and CIDRs, comma-separated): a client's address, which limits invalid API keys, is then read from their X-Forwarded-For; without it the header is ignored",
      trustedProxies,
    )
    .option(
      '--budget-ms <ms>',
      'how long a request waits for the stored decision before answering with a provisional one',
      wholeNumber('--budget-ms', 1, 60_000),
      100,
    )
    .option(
      '--metrics-port <port>',
      'serve Prometheus /metrics on 127.0.0.1 at this port (0 picks a free one); never on --port',
      wholeNumber('--metrics-port', 0, 65535),
    )
    .addOption(prefixOption())
    .addOption(partitionsOption())
    .option(
      '--rate-limit <n/unit>',
      'requests per API key, over every gateway sharing the Redis: 1000/s, 600/min',
      rateLimit,
      { max: 1000, windowMs: 1000 },
    )
    .option(
      '--max-backlog <n>',
      'entries waiting on the streams beyond which new transactions get 503 Retry-After',
      wholeNumber('--max-backlog', 1, 100_000_000),
      100_000,
    )
    .addOption(earliestTsOption())
    .addOption(aheadHoursOption())
    .addOption(logLevelOption())
    .action(async (options: GatewayCommandOptions) => {
      if ((options.tlsCert === undefined) !== (options.tlsKey === undefined))
        throw new Error('--tls-cert and --tls-key go together')
      const tls =
        options.tlsCert !== undefined && options.tlsKey !== undefined
          ? readTls(options.tlsCert, options.tlsKey)
          : undefined
      const layout = validateLayout({ prefix: options.prefix, partitions: options.partitions })
      const postgres = withoutPassword(options.postgresUrl)
      const logger = createLogger({ role: 'gateway', level: options.logLevel })
      const log = lineLogger(logger)
      addSecret(postgres.password ?? process.env.PGPASSWORD)
      addSecret(withoutPassword(options.redisUrl).password)
      const gateway = await startGateway({
        postgres: { url: postgres.url, password: postgres.password ?? process.env.PGPASSWORD },
        redis: { url: options.redisUrl },
        layout,
        host: options.host,
        port: options.port,
        budgetMs: options.budgetMs,
        rateLimit: options.rateLimit,
        maxBacklog: options.maxBacklog,
        timeWindow: timeWindowOf(options),
        metricsPort: options.metricsPort,
        ...(tls !== undefined ? { tls } : {}),
        ...(options.trustProxy !== undefined ? { trustProxy: options.trustProxy } : {}),
        version: APP_VERSION,
        log,
        logger,
      })
      console.log(
        `Decision API at ${gateway.url} (OpenAPI at ${gateway.url}/openapi.json${gateway.metricsUrl !== undefined ? `, metrics at ${gateway.metricsUrl}` : ''}); streams ${layout.prefix}tx:{p0…p${layout.partitions - 1}} on ${options.redisUrl}, store ${postgres.url}. Ctrl-C stops gracefully.`,
      )
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
      logger.info('stopping: answering the requests in flight')
      await gateway.close()
      console.log('Stopped.')
    })
}
