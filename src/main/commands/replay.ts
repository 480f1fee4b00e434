import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { defaultDataDir } from '../core/paths'
import { withoutPassword } from '../core/profiles'
import { addSecret, createLogger, logLevelOption, type LogLevel } from '../ops/log'
import { generateTraffic } from '../scoring/generator'
import {
  formatCount,
  formatDuration,
  partitionsOption,
  prefixOption,
  redisUrl,
  wholeNumber,
} from '../pipeline/cli-options'
import { checkReplayFile, countDataLines, paysimDatasetKey, readPaysimFile } from '../pipeline/file-replay'
import { streamSource } from '../pipeline/partitioning'
import {
  DEFAULT_RETRY_FOR_MS,
  replay,
  type ReplayCheckpoint,
  type ReplayProgress,
  type ReplayRow,
} from '../pipeline/producer'
import { readProgress, writeProgress } from '../pipeline/replay-progress'

interface ReplayCommandOptions {
  generate?: number
  seed: number
  tps?: number
  redisUrl: string
  prefix: string
  partitions: number
  resume?: boolean
  progress: string
  retryFor: number
  logLevel: LogLevel
}

/** The generator's transactions numbered 1, 2, …; those up to `after` are generated but not sent. */
function* generated(count: number, seed: number, after: number): Generator<ReplayRow> {
  let index = 0
  for (const { txn } of generateTraffic({ seed })) {
    if (++index > count) return
    if (index > after) yield { line: index, txn }
  }
}

function progressLine({ sent, confirmed, retried, rejected, elapsedMs, total }: ReplayProgress): string {
  const rate = elapsedMs > 0 ? (confirmed * 1000) / elapsedMs : 0
  const done = confirmed + rejected
  const parts = [
    total === undefined
      ? `${formatCount(confirmed)} confirmed`
      : `${formatCount(done)} / ${formatCount(total)} rows (${((100 * done) / Math.max(total, 1)).toFixed(1)}%)`,
    `${formatCount(rate)} rows/s`,
  ]
  if (total !== undefined && rate > 0) parts.push(`ETA ${formatDuration(((total - done) * 1000) / rate)}`)
  if (sent > confirmed) parts.push(`${formatCount(sent - confirmed)} awaiting Redis`)
  if (retried > 0) parts.push(`${formatCount(retried)} retried`)
  if (rejected > 0) parts.push(`${formatCount(rejected)} refused`)
  return parts.join('  ')
}

/** The Redis a run writes to, without its password: part of the progress key. */
function target(url: string, prefix: string, partitions: number): string {
  const parsed = new URL(url)
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname} ${prefix}tx ×${partitions}`
}

export function registerReplay(program: Command) {
  program
    .command('replay')
    .description('Send transactions to the partition streams: a PaySim CSV file, or generated traffic')
    .argument('[file]', 'a PaySim CSV file, or one compressed with gzip (header step,type,amount,nameOrig,…)')
    .option(
      '--generate <n>',
      'send n generated transactions with injected fraud patterns instead',
      wholeNumber('--generate', 1),
    )
    .option(
      '--seed <n>',
      'seed of the generator (the same seed gives the same transactions)',
      wholeNumber('--seed', 0),
      1,
    )
    .option('--tps <n>', 'transactions per second (default: as fast as possible)', wholeNumber('--tps', 1))
    .option('--redis-url <url>', 'the team Redis', redisUrl, 'redis://127.0.0.1:6379')
    .addOption(prefixOption())
    .addOption(partitionsOption())
    .option(
      '--resume',
      'continue the last run of the same file (or --generate seed) to the same streams from where it stopped: rows Redis confirmed are not sent again',
    )
    .option(
      '--progress <file>',
      'where runs record how far Redis confirmed them, for --resume: one small JSON file for all runs, each under what was sent and where',
      join(defaultDataDir(), 'replay-progress.json'),
    )
    .option(
      '--retry-for <seconds>',
      'while Redis is unreachable or restarting, keep retrying this long before giving up',
      wholeNumber('--retry-for', 1),
      DEFAULT_RETRY_FOR_MS / 1000,
    )
    .addOption(logLevelOption())
    .addHelpText(
      'after',
      `
Delivery: every XADD Redis confirms is counted once. If Redis or the network goes away, replay waits and
sends again, in order, what Redis had not confirmed; an entry whose XADD got no reply may then be in the
stream twice, and the worker stores it once (txn_id is the idempotency key). The summary says how many
rows were sent, confirmed by Redis and retried. Ctrl-C stops after the replies in flight; the progress
file then holds what Redis confirmed, and --resume sends the rest.`,
    )
    .action(async (file: string | undefined, options: ReplayCommandOptions) => {
      // The summary is for the person at the terminal (stdout); events go to the log (stderr).
      const logger = createLogger({ role: 'replay', level: options.logLevel })
      const redisUrl = withoutPassword(options.redisUrl)
      addSecret(redisUrl.password)
      if ((file === undefined) === (options.generate === undefined))
        throw new Error('Give either a PaySim CSV file or --generate <n>, not both.')
      const layout = { prefix: options.prefix, partitions: options.partitions }
      const progressPath = resolve(options.progress)
      let source: string
      let datasetKey = ''
      let total: number
      let what: string
      if (file !== undefined) {
        await checkReplayFile(file)
        datasetKey = await paysimDatasetKey(file)
        // The path tells two files apart; name and size give the transaction ids (paysimDatasetKey).
        source = `file ${resolve(file)} (${datasetKey})`
        total = await countDataLines(file)
        what = file
      } else {
        source = `generated seed ${options.seed}`
        total = options.generate as number
        what = `${formatCount(total)} generated transactions (seed ${options.seed})`
      }
      const key = `${source} → ${target(options.redisUrl, layout.prefix, layout.partitions)}`
      const earlier = readProgress(progressPath, key)
      let from: ReplayCheckpoint = { through: 0, confirmedAfter: [] }
      if (options.resume === true) {
        if (earlier === undefined)
          console.log(
            `No earlier run of ${what} to these streams in ${progressPath}: starting from the first row.`,
          )
        // A generated run is complete up to its own count: a larger --generate continues it.
        else if (earlier.complete && (file !== undefined || earlier.through >= total)) {
          console.log(`The run of ${what} recorded in ${progressPath} is complete: nothing left to send.`)
          return
        } else from = earlier
      } else if (earlier !== undefined && !earlier.complete)
        console.log(
          `An earlier run of ${what} stopped part-way; starting over (--resume continues it instead).`,
        )
      // A file's positions are line numbers: its data starts on line 2, after the header.
      const alreadyDone =
        (file !== undefined ? Math.max(0, from.through - 1) : from.through) + from.confirmedAfter.length
      const rows =
        file !== undefined
          ? readPaysimFile(file, datasetKey, Math.max(1, from.through))
          : generated(total, options.seed, from.through)
      console.log(
        `Replaying ${what} to ${streamSource(layout)} (${layout.partitions} partitions) at ${redisUrl.url}${options.tps === undefined ? '' : `, ${formatCount(options.tps)} tx/s`}${alreadyDone > 0 ? `, after the ${formatCount(alreadyDone)} rows an earlier run completed` : ''}. Ctrl-C stops.`,
      )
      let saveFailed = false
      const save = (checkpoint: ReplayCheckpoint, complete: boolean) => {
        try {
          writeProgress(progressPath, key, checkpoint, complete)
        } catch (error) {
          if (!saveFailed)
            logger.error(
              { progress: progressPath, problem: (error as Error).message },
              `Could not record progress in ${progressPath} (${(error as Error).message}); --resume will not be able to continue this run. Give --progress <file> elsewhere.`,
            )
          saveFailed = true
        }
      }
      const controller = new AbortController()
      const cancel = () => controller.abort()
      process.once('SIGINT', cancel)
      process.once('SIGTERM', cancel)
      const tty = process.stdout.isTTY
      let lastRetryNote = 0
      logger.info({ source, total, alreadyDone, tps: options.tps ?? null }, 'replay started')
      try {
        const summary = await replay({
          redis: { url: options.redisUrl },
          layout,
          rows,
          total: total - alreadyDone,
          tps: options.tps,
          resumeFrom: from,
          retryForMs: options.retryFor * 1000,
          signal: controller.signal,
          progressEveryMs: tty ? 250 : 5000,
          onProgress: (progress) =>
            tty
              ? process.stdout.write(`\r${progressLine(progress)}\x1b[K`)
              : console.log(progressLine(progress)),
          onCheckpoint: (checkpoint) => save(checkpoint, false),
          onRetry: ({ error, waiting, failingForMs }) => {
            if (Date.now() - lastRetryNote < 5000) return
            lastRetryNote = Date.now()
            if (tty) process.stdout.write('\r\x1b[K')
            logger.warn(
              { problem: error, waiting, failingForMs },
              `Redis is not taking entries (${error}); retrying${waiting > 0 ? ` ${formatCount(waiting)} entries` : ''} for up to ${formatDuration(options.retryFor * 1000 - failingForMs)} more.`,
            )
          },
        })
        const complete = !summary.cancelled && summary.failure === undefined
        save(summary.checkpoint, complete)
        logger.info(
          {
            complete,
            cancelled: summary.cancelled,
            sent: summary.sent,
            confirmed: summary.confirmed,
            retried: summary.retried,
            rejected: summary.rejected,
            elapsedMs: summary.elapsedMs,
          },
          'replay ended',
        )
        if (tty) process.stdout.write('\r\x1b[K')
        console.log(
          `${complete ? 'Done' : summary.cancelled ? 'Cancelled' : 'Stopped'}: ${formatCount(summary.sent)} transactions sent, ${formatCount(summary.confirmed)} confirmed by Redis, ${formatCount(summary.retried)} retried, in ${formatDuration(summary.elapsedMs)} (${formatCount((summary.confirmed * 1000) / Math.max(summary.elapsedMs, 1))}/s); per partition ${summary.perPartition.map(formatCount).join(' / ')}.`,
        )
        if (summary.unconfirmedResent > 0)
          console.log(
            `${formatCount(summary.unconfirmedResent)} were sent again after an XADD without a reply: they may be in the stream twice, and the worker stores each once.`,
          )
        if (summary.rejected > 0) {
          console.log(`${formatCount(summary.rejected)} rows were not transactions and were not sent:`)
          for (const problem of summary.problems) console.log(`  ${problem.error}`)
          if (summary.rejected > summary.problems.length)
            console.log(`  … and ${formatCount(summary.rejected - summary.problems.length)} more`)
        }
        if (!complete) {
          if (summary.unconfirmed > 0)
            console.log(
              `${formatCount(summary.unconfirmed)} sent without a reply from Redis: --resume sends them again.`,
            )
          console.log(
            `Progress recorded in ${progressPath}: run the same command with --resume to send the rest.`,
          )
        }
        if (summary.failure !== undefined) throw new Error(summary.failure)
      } finally {
        process.off('SIGINT', cancel)
        process.off('SIGTERM', cancel)
      }
    })
}
