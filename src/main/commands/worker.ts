import type { Command } from 'commander'
import { Histogram, type Registry } from 'prom-client'
import { withoutPassword } from '../core/profiles'
import {
  aheadHoursOption,
  earliestTsOption,
  partitionsOption,
  prefixOption,
  formatCount,
  postgresUrl,
  redisUrl,
  timeWindowOf,
  wholeNumber,
} from '../pipeline/cli-options'
import { addSecret, createLogger, lineLogger, logLevelOption, type Logger, type LogLevel } from '../ops/log'
import { watchServices } from '../ops/probes'
import { createRegistry } from '../ops/metrics'
import { serveMetrics, workerFigures, type WorkerMetrics } from '../pipeline/metrics'
import { streamSource, validateLayout } from '../pipeline/partitioning'
import {
  redisBulkLimitWarning,
  redisPersistenceWarning,
  redisVersionWarning,
} from '../pipeline/redis-persistence'
import { DEAD_LETTERS_KEPT, DEAD_LETTERS_MAX_AGE_HOURS } from '../pipeline/redis-stream'
import { createTeamWorker, newWorkerId, type TeamWorkerConfig } from '../pipeline/team'
import { WorkerThread } from '../pipeline/threads'
import { openPostgresStore } from '../store/store'
import { WebhookPoster } from '../triage/webhook-poster'

interface WorkerCommandOptions {
  postgresUrl: string
  redisUrl: string
  prefix: string
  partitions: number
  concurrency: number
  metricsPort: number
  leaseMs: number
  earliestTs: string
  aheadHours: number
  deadLettersKeep: number
  deadLettersMaxAge: number
  stateCheckpointSeconds: number
  logLevel: LogLevel
}

/** One worker of this process: on the main thread when alone, each on a thread of its own otherwise. */
interface ProcessWorker {
  metrics(): Promise<WorkerMetrics | undefined>
  /** An operator's pause: the worker consumes nothing and gives its partitions to the team. */
  setPaused(paused: boolean): void
  stop(): Promise<void>
}

/** Names the stray keys and their lengths (the first ten), for the log. */
export function describeStrays(strays: { key: string; length: number }[]): string {
  if (strays.length === 0) return 'no stray stream keys any more'
  const named = strays
    .slice(0, 10)
    .map((stray) => `${stray.key} (${formatCount(stray.length)} ${stray.length === 1 ? 'entry' : 'entries'})`)
    .join(', ')
  const more = strays.length > 10 ? ` and ${formatCount(strays.length - 10)} more` : ''
  return `stray stream keys no worker reads, a producer writes to a wrong key: ${named}${more}`
}

function inProcess(config: TeamWorkerConfig, logger: Logger): ProcessWorker {
  const workerId = config.workerId ?? newWorkerId()
  const team = createTeamWorker({ ...config, workerId }, lineLogger(logger.child({ worker: workerId })))
  team.worker.start()
  return {
    metrics: () => workerFigures(team.worker),
    setPaused: (paused) => (paused ? team.worker.pause() : team.worker.resume()),
    stop: () => team.close(),
  }
}

/** The process's GC histogram (prom-client's default metrics): the threads' pauses are added to it. */
function gcHistogram(registry: Registry): Histogram<'kind'> | undefined {
  const metric = registry.getSingleMetric('nodejs_gc_duration_seconds')
  return metric instanceof Histogram ? (metric as Histogram<'kind'>) : undefined
}

async function onThread(
  config: TeamWorkerConfig,
  logger: Logger,
  registry: Registry,
  onEnded: (code: number) => void,
): Promise<ProcessWorker> {
  const children = new Map<string, Logger>()
  const gc = gcHistogram(registry)
  const thread = await WorkerThread.start(
    config,
    (line, workerId) => {
      const key = workerId ?? ''
      let child = children.get(key)
      if (child === undefined) children.set(key, (child = logger.child({ worker: workerId ?? null })))
      child.warn(line)
    },
    {
      onGc: (pauses) => {
        for (const [kind, seconds] of pauses) gc?.observe({ kind }, seconds)
      },
      onEnded,
    },
  )
  return {
    metrics: async () => thread.latest,
    setPaused: (paused) => (paused ? thread.pause() : thread.resume()),
    stop: () => thread.stop(),
  }
}

export function registerWorker(program: Command) {
  program
    .command('worker')
    .description(
      'Consume the partition streams and score into PostgreSQL, as a member of the team’s consumer group',
    )
    .requiredOption(
      '--postgres-url <url>',
      'the team PostgreSQL (password from the URL or PGPASSWORD)',
      postgresUrl,
    )
    .option('--redis-url <url>', 'the team Redis', redisUrl, 'redis://127.0.0.1:6379')
    .addOption(prefixOption())
    .addOption(partitionsOption())
    .option(
      '--concurrency <n>',
      'workers in this process, each on its own thread',
      wholeNumber('--concurrency', 1, 64),
      1,
    )
    .option(
      '--metrics-port <port>',
      'Prometheus /metrics on 127.0.0.1 (0 picks a free port)',
      wholeNumber('--metrics-port', 0, 65535),
      9464,
    )
    .option(
      '--lease-ms <ms>',
      'how long a crashed worker’s partitions wait before others take them',
      wholeNumber('--lease-ms', 1000, 600_000),
      5000,
    )
    .addOption(earliestTsOption())
    .addOption(aheadHoursOption())
    .option(
      '--dead-letters-keep <n>',
      'the dead-letter stream keeps this many of the newest letters',
      wholeNumber('--dead-letters-keep', 1, 100_000_000),
      DEAD_LETTERS_KEPT,
    )
    .option(
      '--dead-letters-max-age <hours>',
      'dead letters older than this are dropped (whichever limit comes first)',
      wholeNumber('--dead-letters-max-age', 1, 87_600),
      DEAD_LETTERS_MAX_AGE_HOURS,
    )
    .option(
      '--state-checkpoint-seconds <n>',
      'users’ feature states are written this often (and when the stream goes quiet, and on a stop)',
      wholeNumber('--state-checkpoint-seconds', 1, 3600),
      10,
    )
    .addOption(logLevelOption())
    .addHelpText(
      'after',
      `
Logs: JSON lines on stderr (readable when stderr is a terminal), passwords and keys redacted.
Pause: \`kill -USR2 <pid>\` stops consuming (the partitions go to the rest of the team); again resumes.
Streams: every few seconds each worker drops the entries every consumer group has read and acknowledged
(never one still pending or not yet read by a group: a group of your own that lags holds them back), and
the dead letters beyond --dead-letters-keep or older than --dead-letters-max-age. The entries since the
last state checkpoint stay too: after a crash the next owner replays them into the users' states.`,
    )
    .action(async (options: WorkerCommandOptions) => {
      const logger = createLogger({ role: 'worker', level: options.logLevel })
      const log = (line: string) => logger.info(line)
      const layout = validateLayout({ prefix: options.prefix, partitions: options.partitions })
      const postgres = withoutPassword(options.postgresUrl)
      const redis = withoutPassword(options.redisUrl)
      const postgresPassword = postgres.password ?? process.env.PGPASSWORD
      addSecret(postgresPassword)
      addSecret(redis.password)
      const config: TeamWorkerConfig = {
        postgres: { url: postgres.url, password: postgresPassword },
        redis: { url: options.redisUrl },
        layout,
        timing: { leaseMs: options.leaseMs, heartbeatMs: Math.max(200, Math.round(options.leaseMs / 5)) },
        timeWindow: timeWindowOf(options),
        deadLetters: { keep: options.deadLettersKeep, maxAgeMs: options.deadLettersMaxAge * 3_600_000 },
        stateCheckpointMs: options.stateCheckpointSeconds * 1000,
      }
      const registry = createRegistry('worker')
      // A thread that crashed leaves this process short of a worker: the process ends (non-zero, after
      // stopping the others), so the supervisor starts it again and the team takes its partitions meanwhile.
      let crashed: ((code: number) => void) | undefined
      const crashedExit = new Promise<number>((resolve) => (crashed = resolve))
      const workers: ProcessWorker[] =
        options.concurrency === 1
          ? [inProcess(config, logger)]
          : await Promise.all(
              Array.from({ length: options.concurrency }, () =>
                onThread(config, logger, registry, (code) => crashed?.(code)),
              ),
            )
      const collect = async () =>
        (await Promise.all(workers.map((worker) => worker.metrics()))).filter((m) => m !== undefined)
      const metrics = await serveMetrics(options.metricsPort, collect, registry)
      const services = watchServices({
        registry: metrics.registry,
        postgres: config.postgres,
        redis: config.redis,
        onChange: (service, up, problem) => {
          if (up) logger.info({ service }, `the ${service === 'store' ? 'store' : 'Redis'} answers`)
          else
            logger.error(
              { service, problem },
              `the ${service === 'store' ? 'store' : 'Redis'} does not answer`,
            )
        },
      })
      // The team webhook, posted from here: exactly once per block alert over all workers (webhook-poster.ts).
      const webhookStore = openPostgresStore({
        connectionString: config.postgres.url,
        password: config.postgres.password,
        max: 2,
        applicationName: 'aether worker webhook',
      })
      const webhooks = new WebhookPoster({
        db: webhookStore.db,
        holder: newWorkerId(),
        listen: webhookStore.listen,
        log: (line) => logger.warn(line),
      })
      webhooks.registerMetrics(metrics.registry)
      await webhooks.start()
      console.log(
        `${options.concurrency} worker${options.concurrency === 1 ? '' : 's'} consuming ${streamSource(layout)} (${layout.partitions} partitions) from ${redis.url} into ${postgres.url}; metrics at http://127.0.0.1:${metrics.port}/metrics. Ctrl-C stops gracefully.`,
      )
      logger.info(
        { metricsPort: metrics.port, workers: options.concurrency, partitions: layout.partitions },
        'started',
      )
      // What "accepted" means depends on the Redis persistence: say so when a restart would lose entries;
      // a Redis whose Lua cjson can be overflowed by an entry's fields, or that takes fields so large that
      // reading one blocks it for seconds, is worth a warning too.
      for (const check of [redisPersistenceWarning, redisVersionWarning, redisBulkLimitWarning])
        void check({ url: options.redisUrl }).then((warning) => {
          if (warning !== undefined) logger.warn(warning)
        })
      // An operator's pause without the app: the worker stays up, scraped, and consumes nothing.
      let paused = false
      const togglePause = () => {
        paused = !paused
        for (const worker of workers) worker.setPaused(paused)
        logger.warn(
          paused ? 'paused by SIGUSR2: consuming nothing until the next SIGUSR2' : 'resumed by SIGUSR2',
        )
      }
      process.on('SIGUSR2', togglePause)
      // Said once when the set of stray keys changes, not at every report.
      let loggedStrays = ''
      const report = setInterval(() => {
        void collect().then((all) => {
          const strays = all.find((m) => m.status.strayStreams !== undefined)?.status.strayStreams
          const names = strays?.map((stray) => stray.key).join('\n')
          if (strays !== undefined && names !== loggedStrays) {
            if (strays.length > 0 || loggedStrays !== '') log(describeStrays(strays))
            loggedStrays = names ?? ''
          }
          const wrongPartition = all.reduce(
            (sum, m) => sum + (m.status.deadLettersByReason?.wrong_partition ?? 0),
            0,
          )
          const stored = all.reduce((sum, m) => sum + m.status.counts.stored, 0)
          const rate = all.reduce((sum, m) => sum + m.status.ratePerSecond, 0)
          const lag = all[0]?.status.partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0) ?? 0
          const states = [...new Set(all.map((m) => m.status.state))].join('/')
          const message = all.find((m) => m.status.message !== undefined)?.status.message
          logger.info(
            { states, stored, ratePerSecond: rate, lag },
            `${states}: ${formatCount(stored)} stored, ${formatCount(rate)}/s, lag ${formatCount(lag)}${wrongPartition > 0 ? `, ${formatCount(wrongPartition)} dead letter${wrongPartition === 1 ? '' : 's'} on a wrong partition` : ''}${message ? ` (${message})` : ''}`,
          )
        })
      }, 10_000)
      const crashCode = await new Promise<number | undefined>((resolve) => {
        process.once('SIGINT', () => resolve(undefined))
        process.once('SIGTERM', () => resolve(undefined))
        void crashedExit.then(resolve)
      })
      if (crashCode !== undefined)
        logger.error(
          { exitCode: crashCode },
          'a worker thread ended unexpectedly: stopping the others and ending, for the supervisor to start this process again',
        )
      clearInterval(report)
      process.off('SIGUSR2', togglePause)
      services.stop()
      log('stopping: finishing the batch in flight, then giving the partitions back')
      await Promise.all(workers.map((worker) => worker.stop()))
      await webhooks.stop()
      await webhookStore.close()
      const final = await collect()
      await metrics.close()
      const stored = final.reduce((sum, m) => sum + m.status.counts.stored, 0)
      console.log(`Stopped; ${formatCount(stored)} transactions stored by this process.`)
      if (crashCode !== undefined) process.exitCode = 1
    })
}
