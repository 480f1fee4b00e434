/**
 * The soak of `npm run bench:ingest -- --soak <seconds>` (issue 13: streams that stay bounded): offers a
 * steady rate (5,000 tx/s) to running `aether worker` processes and samples Redis's `used_memory` (INFO
 * memory). The streams are trimmed by the workers alone (what every consumer group has acknowledged
 * goes), so while the workers keep up, memory after the first minute and at the end should agree
 * within 10%.
 *
 * On a Redis of its own (started here, as the README asks the team Redis to run: AOF on, everysec):
 * on a shared Redis, other users' keys come and go in used_memory. Between two trims (a worker trims
 * every 5 s, up to its last state checkpoint) the streams fill and empty again by several MB, more than
 * the rest of Redis holds, so one reading lands anywhere in that swing: each sample is the mean of a
 * reading every 500 ms over 30 s (SAMPLE_EVERY_MS), with its lowest and highest reading beside it.
 *
 * And on a PostgreSQL of its own, set up as README "Running the team PostgreSQL" asks (durable: fsync,
 * full-page writes and synchronous commit on; shared buffers and WAL sized for a store that takes
 * millions of transactions): the shared server is a test server (128 MB of shared buffers, 1 GB of WAL
 * between checkpoints, which this load fills in well under a minute), and other users' work there would
 * be measured too.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { loadavg } from 'node:os'
import { Redis } from 'ioredis'
import {
  CONSUMER_GROUP,
  partitionLease,
  partitionStream,
  type StreamLayout,
} from '../src/main/pipeline/partitioning'
import { replay } from '../src/main/pipeline/producer'
import { RedisStreams } from '../src/main/pipeline/redis-stream'
import { generateTraffic } from '../src/main/scoring/generator'
import { migrateToLatest } from '../src/main/store/migrate'
import { openPostgresStore } from '../src/main/store/store'
import { startPrivatePostgres, startPrivateRedis } from '../test/support/private-servers'

/** README "Running the team PostgreSQL": the settings beyond the defaults for a team store under load. */
export const TEAM_POSTGRES_SETTINGS = {
  fsync: 'on',
  full_page_writes: 'on',
  synchronous_commit: 'on',
  shared_buffers: '2GB',
  max_wal_size: '16GB',
  checkpoint_timeout: '15min',
  wal_compression: 'lz4',
}

export interface SoakOptions {
  seconds: number
  /** Offered rate (default 5,000 tx/s). */
  tps?: number
  /** `aether worker` processes (default 2). */
  workers?: number
  seed?: number
}

export interface SoakSample {
  /** Seconds since the offer began, at the end of the sample's 30 s. */
  at: number
  /** used_memory: the mean of the readings over the sample's 30 s, their lowest and highest. */
  usedMemory: number
  lowest: number
  highest: number
  /** Entries in the partition streams at the sample's end. */
  entries: number
  offered: number
  /** Acknowledged by the workers (each after its commit). */
  stored: number
}

export interface SoakResult {
  afterFirstMinute: SoakSample
  atEnd: SoakSample
  /** used_memory at the end against after the first minute, in percent (signed, whole). */
  pct: number
  within: boolean
}

/**
 * Each sample is the mean over 30 s: the streams keep what follows each partition's last state
 * checkpoint (0017, every 10 s per worker, the workers' not in step), so they swing between about 10 and
 * 20 s of traffic; three checkpoints of each worker in a sample, so where a sample starts in that swing
 * moves its mean little.
 */
const SAMPLE_EVERY_MS = 30_000
const READ_EVERY_MS = 500

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(2)} MB`
const fmt = (value: number) => Math.round(value).toLocaleString('en-US')
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const tps = options.tps ?? 5000
  const workerCount = options.workers ?? 2
  if (!(options.seconds >= 70))
    throw new Error('--soak needs 70 seconds at least: it compares the end with the first minute.')
  const redisServer = await startPrivateRedis()
  const postgresServer = await startPrivatePostgres({
    password: 'aether-soak',
    settings: TEAM_POSTGRES_SETTINGS,
  }).catch(async (error: unknown) => {
    await redisServer.stop()
    throw error
  })
  const layout: StreamLayout = { prefix: 'aether:', partitions: 8 }
  const redis = new Redis(redisServer.url)
  const workers: ChildProcess[] = []
  const abort = new AbortController()
  try {
    const store = openPostgresStore({
      connectionString: postgresServer.url,
      password: postgresServer.password,
    })
    await migrateToLatest(store)
    await store.close()
    // The streams and the group first, so the workers take every partition before the offer begins.
    const producer = new RedisStreams({ url: redisServer.url }, layout, 'soak')
    await producer.prepareForProducing()
    await producer.close()
    const cli = new URL('../bin/aether.js', import.meta.url).pathname
    for (let i = 0; i < workerCount; i++)
      workers.push(
        spawn(
          process.execPath,
          [
            cli,
            'worker',
            '--postgres-url',
            postgresServer.url,
            '--redis-url',
            redisServer.url,
            '--prefix',
            layout.prefix,
            '--metrics-port',
            '0',
            '--log-level',
            'error',
          ],
          {
            stdio: ['ignore', 'ignore', 'inherit'],
            env: { ...process.env, PGPASSWORD: postgresServer.password },
          },
        ),
      )

    /** Entries the workers acknowledged (each after its commit), from Redis: it costs the store nothing. */
    const acknowledged = async () => {
      const pipeline = redis.pipeline()
      for (let p = 0; p < layout.partitions; p++) pipeline.call('XINFO', 'GROUPS', partitionStream(layout, p))
      let total = 0
      for (const [, groups] of (await pipeline.exec()) ?? []) {
        for (const flat of (groups ?? []) as unknown[][]) {
          const info = new Map<string, unknown>()
          for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1])
          if (info.get('name') === CONSUMER_GROUP)
            total += Number(info.get('entries-read') ?? 0) - Number(info.get('pending') ?? 0)
        }
      }
      return total
    }
    const usedMemory = async () =>
      Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))?.[1] ?? Number.NaN)
    const entries = async () => {
      const pipeline = redis.pipeline()
      for (let p = 0; p < layout.partitions; p++) pipeline.xlen(partitionStream(layout, p))
      return ((await pipeline.exec()) ?? []).reduce((sum, [, n]) => sum + Number(n ?? 0), 0)
    }

    const leases = Array.from({ length: layout.partitions }, (_, p) => partitionLease(layout, p))
    const startBy = performance.now() + 120_000
    while ((await redis.exists(...leases)) < leases.length) {
      if (performance.now() > startBy)
        throw new Error('soak: the workers did not take the partitions within 2 min')
      await sleep(200)
    }
    console.log(
      `soak: ${fmt(tps)} tx/s offered to ${workerCount} \`aether worker\` processes for ${options.seconds} s, ${layout.partitions} partitions, on a Redis of its own (AOF everysec) and a PostgreSQL of its own (${Object.entries(
        TEAM_POSTGRES_SETTINGS,
      )
        .map(([name, value]) => `${name}=${value}`)
        .join(
          ', ',
        )}); used_memory read every ${READ_EVERY_MS} ms, each sample the mean over ${SAMPLE_EVERY_MS / 1000} s (load ${load()})`,
    )
    const traffic = generateTraffic({ seed: options.seed ?? 44 })
    const total = Math.round(options.seconds * tps)
    let offered = 0
    let failed: unknown
    const started = performance.now()
    const producing = replay({
      redis: { url: redisServer.url },
      layout,
      tps,
      total,
      rows: (function* () {
        for (let i = 0; i < total; i++) yield { txn: traffic.next().value.txn }
      })(),
      progressEveryMs: 1000,
      onProgress: (progress) => (offered = progress.sent),
      signal: abort.signal,
    }).catch((error: unknown) => (failed = error))

    const samples: SoakSample[] = []
    for (let end = SAMPLE_EVERY_MS; end <= options.seconds * 1000; end += SAMPLE_EVERY_MS) {
      const readings: number[] = []
      for (let at = end - SAMPLE_EVERY_MS + READ_EVERY_MS; at <= end; at += READ_EVERY_MS) {
        const wait = started + at - performance.now()
        if (wait > 0) await sleep(wait)
        if (failed !== undefined) throw failed
        readings.push(await usedMemory())
      }
      const sample: SoakSample = {
        at: end / 1000,
        usedMemory: readings.reduce((a, b) => a + b, 0) / readings.length,
        lowest: Math.min(...readings),
        highest: Math.max(...readings),
        entries: await entries(),
        offered,
        stored: await acknowledged(),
      }
      samples.push(sample)
      console.log(
        `  ${String(sample.at).padStart(4)} s: used_memory ${mb(sample.usedMemory)} (${mb(sample.lowest)} to ${mb(sample.highest)}); ${fmt(sample.entries)} entries in the streams; ${fmt(sample.offered)} offered, ${fmt(sample.stored)} stored; load ${load()}`,
      )
    }
    abort.abort()
    await producing
    const afterFirstMinute = samples.find((sample) => sample.at >= 60) as SoakSample
    const atEnd = samples.at(-1) as SoakSample
    const change = atEnd.usedMemory - afterFirstMinute.usedMemory
    const pct = Math.round((change / afterFirstMinute.usedMemory) * 100)
    const within = Math.abs(change) <= afterFirstMinute.usedMemory * 0.1
    console.log(
      `soak: used_memory ${mb(afterFirstMinute.usedMemory)} after the first minute, ${mb(atEnd.usedMemory)} at the end (${pct >= 0 ? '+' : ''}${pct}%): ${within ? 'within 10%' : 'not within 10%'}; ${fmt(atEnd.offered / options.seconds)} tx/s offered on average, the workers ${fmt(atEnd.offered - atEnd.stored)} behind at the end (load ${load()}).`,
    )
    return { afterFirstMinute, atEnd, pct, within }
  } finally {
    abort.abort()
    for (const child of workers) if (child.exitCode === null) child.kill('SIGTERM')
    await Promise.all(
      workers.map((child) =>
        child.exitCode !== null || child.signalCode !== null
          ? undefined
          : new Promise((resolve) => {
              child.once('exit', resolve)
              // A worker that does not stop within 30 s is killed: the bench must end.
              setTimeout(() => child.kill('SIGKILL'), 30_000).unref()
            }),
      ),
    )
    redis.disconnect()
    await redisServer.stop()
    await postgresServer.stop()
  }
}
