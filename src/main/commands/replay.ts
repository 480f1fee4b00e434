import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import { generateTraffic } from '../scoring/generator'
import { formatCount, formatDuration, redisUrl, wholeNumber } from '../pipeline/cli-options'
import { countDataLines, paysimDatasetKey, readPaysimFile } from '../pipeline/file-replay'
import { DEFAULT_PARTITIONS, DEFAULT_PREFIX, streamSource } from '../pipeline/partitioning'
import { replay, type ReplayProgress, type ReplayRow } from '../pipeline/producer'

interface ReplayCommandOptions {
  generate?: number
  seed: number
  tps?: number
  redisUrl: string
  prefix: string
  partitions: number
}

function* generated(count: number, seed: number): Generator<ReplayRow> {
  let produced = 0
  for (const { txn } of generateTraffic({ seed })) {
    if (produced++ >= count) return
    yield { txn }
  }
}

function progressLine({ sent, rejected, elapsedMs, total }: ReplayProgress): string {
  const rate = elapsedMs > 0 ? (sent * 1000) / elapsedMs : 0
  const done = sent + rejected
  const parts = [
    total === undefined
      ? `${formatCount(sent)} sent`
      : `${formatCount(done)} / ${formatCount(total)} rows (${((100 * done) / Math.max(total, 1)).toFixed(1)}%)`,
    `${formatCount(rate)} rows/s`,
  ]
  if (total !== undefined && rate > 0) parts.push(`ETA ${formatDuration(((total - done) * 1000) / rate)}`)
  if (rejected > 0) parts.push(`${formatCount(rejected)} refused`)
  return parts.join('  ')
}

export function registerReplay(program: Command) {
  program
    .command('replay')
    .description('Send transactions to the partition streams: a PaySim CSV file, or generated traffic')
    .argument('[file]', 'a PaySim CSV file (header step,type,amount,nameOrig,…)')
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
    .option('--prefix <prefix>', 'key prefix of the streams', DEFAULT_PREFIX)
    .option(
      '--partitions <n>',
      'number of partition streams',
      wholeNumber('--partitions', 1, 1024),
      DEFAULT_PARTITIONS,
    )
    .action(async (file: string | undefined, options: ReplayCommandOptions) => {
      if ((file === undefined) === (options.generate === undefined))
        throw new Error('Give either a PaySim CSV file or --generate <n>, not both.')
      let rows: AsyncIterable<ReplayRow> | Iterable<ReplayRow>
      let total: number
      let what: string
      if (file !== undefined) {
        if (!existsSync(file)) throw new Error(`There is no file ${file}.`)
        total = await countDataLines(file)
        rows = readPaysimFile(file, await paysimDatasetKey(file))
        what = file
      } else {
        total = options.generate as number
        rows = generated(total, options.seed)
        what = `${formatCount(total)} generated transactions (seed ${options.seed})`
      }
      const layout = { prefix: options.prefix, partitions: options.partitions }
      console.log(
        `Replaying ${what} to ${streamSource(layout)} (${layout.partitions} partitions) at ${options.redisUrl}${options.tps === undefined ? '' : `, ${formatCount(options.tps)} tx/s`}. Ctrl-C stops.`,
      )
      const controller = new AbortController()
      const cancel = () => controller.abort()
      process.once('SIGINT', cancel)
      process.once('SIGTERM', cancel)
      const tty = process.stdout.isTTY
      try {
        const summary = await replay({
          redis: { url: options.redisUrl },
          layout,
          rows,
          total,
          tps: options.tps,
          signal: controller.signal,
          progressEveryMs: tty ? 250 : 5000,
          onProgress: (progress) =>
            tty
              ? process.stdout.write(`\r${progressLine(progress)}\x1b[K`)
              : console.log(progressLine(progress)),
        })
        if (tty) process.stdout.write('\r\x1b[K')
        console.log(
          `${summary.cancelled ? 'Cancelled' : 'Done'}: ${formatCount(summary.sent)} transactions sent in ${formatDuration(summary.elapsedMs)} (${formatCount((summary.sent * 1000) / Math.max(summary.elapsedMs, 1))}/s); per partition ${summary.perPartition.map(formatCount).join(' / ')}.`,
        )
        if (summary.rejected > 0) {
          console.log(`${formatCount(summary.rejected)} rows were not transactions and were not sent:`)
          for (const problem of summary.problems) console.log(`  ${problem.error}`)
          if (summary.rejected > summary.problems.length)
            console.log(`  … and ${formatCount(summary.rejected - summary.problems.length)} more`)
        }
      } finally {
        process.off('SIGINT', cancel)
        process.off('SIGTERM', cancel)
      }
    })
}
