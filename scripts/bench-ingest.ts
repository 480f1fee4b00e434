/**
 * npm run bench:ingest [-- --n 200000 --postgres-url URL --redis-url URL --latency-seconds 10 --raw-unnest
 *                         --processes 1,2 --rounds 1 --cpu-prof DIR --worker-node-options=FLAGS --soak SECONDS]
 *
 * Prefills N generated transactions once, writes the first 100,000 of them scored the way the pipeline's COPY
 * path does, statement by statement (bench-ingest-breakdown.ts: what PostgreSQL spends on each row kind), then drains the same entries again and again: with the bare
 * consumer (XREADGROUP → COPY into transactions → XACK, the next read overlapped with the commit; no
 * validation, features or rules: the ceiling, as the issue measured it) and with the real pipeline
 * (`aether worker`, built), each with 1 and 2 processes. --raw-unnest adds the earlier bare consumer
 * (INSERT … unnest … ON CONFLICT DO NOTHING instead of COPY). Then offers 500, then 5,000 tx/s to the
 * bare consumer (one round trip a batch: the reference, this machine's floor), to one worker, then to
 * two, and reads the XADD → commit latency of each (the workers' from their /metrics histograms, with
 * where the time went: the store transactions' share of the time, the workers' CPU a transaction and its
 * kernel share, GC pauses). Prints one table and ends with the `bench:ingest:` line (p99_ms_5000 and
 * p99_ms_500 with one worker, the _w2 keys with two, the raw_ keys the bare consumer's; cpu_x the pipeline's
 * CPU a transaction over the bare consumer's, as cpu_us and raw_cpu_us with 2 processes, or with 1 where only
 * 1 is drained). --processes picks the drains (the summary needs 1 and 2; `none`: the latency part alone);
 * --rounds N runs the drains N times over (each round the bare consumer's drain, then the pipeline's), then
 * the latency part N times over; each key of the summary line is then the median of its own figure over
 * the rounds (cpu_x is the median of the rounds' ratios, not cpu_us over raw_cpu_us), and every round's
 * rows are printed (this VM's figures swing between runs);
 * --cpu-prof writes each pipeline worker's CPU profile (node --cpu-prof) into DIR. --worker-node-options
 * starts each pipeline worker with these node options (e.g. "--initial-old-space-size=256", README
 * "Operating the team backend"), the bare consumer without them. --soak: Redis memory
 * under 5,000 tx/s for that long (bench-ingest-soak.ts), soak_mem_pct in the summary. Not a test: figures
 * depend on the machine and on what else runs on it (the load average is printed with them).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { loadavg, cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { CompiledQuery } from 'kysely'
import { finished } from 'node:stream/promises'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import {
  BATCH_SIZE_BUCKETS,
  LatencyHistogram,
  latencyQuantile,
  LATENCY_BUCKETS_MS,
  sampleQuantile,
  type HistogramSnapshot,
} from '../src/main/ops/latency'
import {
  CONSUMER_GROUP,
  partitionLease,
  partitionStream,
  type StreamLayout,
} from '../src/main/pipeline/partitioning'
import { replay } from '../src/main/pipeline/producer'
import { ownerOfToken } from '../src/main/pipeline/redis-stream'
import { STATES_BEHIND } from '../src/main/pipeline/sink'
import { GENERATOR_BLOCKLIST, generateTraffic } from '../src/main/scoring/generator'
import { migrateToLatest } from '../src/main/store/migrate'
import { openPostgresStore } from '../src/main/store/store'
import { dropTeamDatabase } from '../src/main/store/drop-database'
import { runBreakdown } from './bench-ingest-breakdown'
import { runSoak } from './bench-ingest-soak'

/** The workers' full (mark-compact) GC pauses, as prom-client's default metrics label them. */
const MAJOR_GC_COUNT = 'nodejs_gc_duration_seconds_count{kind="major"}'
const MAJOR_GC_SUM = 'nodejs_gc_duration_seconds_sum{kind="major"}'
const RAW_GROUP = 'bench-raw'
const KEEP_GROUP = 'bench-keep'
/**
 * Every column the pipeline writes into transactions (sink-columns.ts), api_key_id from the entry's
 * api_key, and the score columns (0015) the raw consumer fills with one fixed score (it scores nothing):
 * the same row width class, the same indexes (transactions_score_txn included) as the pipeline's rows.
 */
const CONTENT_COLUMNS =
  'txn_id, ts, user_id, counterparty_id, type, amount, currency, merchant_type, source_ip, device_id, balance_before, balance_after, cp_balance_before, cp_balance_after, label, api_key_id'
const RAW_SCORE = { score: '0', decision: 'approve', reasons: '[]', model_version: 'raw', rules_version: '0' }
const TX_COLUMNS = `${CONTENT_COLUMNS}, ${Object.keys(RAW_SCORE).join(', ')}`
const TX_TYPES = [
  'uuid',
  'timestamptz',
  'text',
  'text',
  'text',
  'numeric',
  'text',
  'text',
  'inet',
  'text',
  'numeric',
  'numeric',
  'numeric',
  'numeric',
  'boolean',
  'bigint',
  'smallint',
  'text',
  'jsonb',
  'text',
  'int',
]
const FIELDS = CONTENT_COLUMNS.split(', ').map((column) => (column === 'api_key_id' ? 'api_key' : column))

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '200000' },
    'postgres-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    'latency-seconds': { type: 'string', default: '10' },
    'raw-unnest': { type: 'boolean', default: false },
    // Seconds of 5,000 tx/s offered to 2 workers, Redis used_memory sampled (bench-ingest-soak.ts).
    soak: { type: 'string' },
    // The drains to run: with 1 worker, with 2, or both (the summary line needs both); none: latency only.
    processes: { type: 'string', default: '1,2' },
    // The drains and the latency part this many times over; the summary line takes the medians.
    rounds: { type: 'string', default: '1' },
    // Writes a CPU profile of each pipeline worker (node --cpu-prof) into this folder.
    'cpu-prof': { type: 'string' },
    // Node options the pipeline workers start with (space-separated), e.g. "--initial-old-space-size=256".
    'worker-node-options': { type: 'string', default: '' },
    // Internal: this script is also the bare consumer of the raw-ceiling runs.
    'raw-consumer': { type: 'string' },
    'raw-write': { type: 'string', default: 'copy' },
    database: { type: 'string' },
    prefix: { type: 'string' },
  },
})

const rounds = Number(args.rounds)
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error(`--rounds: a whole number from 1, not ${args.rounds}`)

const workerNodeOptions = args['worker-node-options'].split(' ').filter((option) => option !== '')
for (const option of workerNodeOptions)
  if (!/^--[a-z][a-z0-9-]*(=[\w.,:/-]+)?$/.test(option))
    throw new Error(`--worker-node-options: node options such as --initial-old-space-size=256, not ${option}`)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** The median by nearest rank (of an even count, the lower middle one): a figure some round measured. */
const median = (values: readonly number[]) => sampleQuantile(values, 0.5)
const layoutOf = (prefix: string): StreamLayout => ({ prefix, partitions: 8 })

/**
 * The bare consumer: partitions p with p mod K = k, one commit in flight, next read overlapped with it.
 * `copy` writes each batch by COPY (a batch holding a stored transaction fails on the primary key and is
 * written again by INSERT … ON CONFLICT DO NOTHING, so it is duplicate-safe as the pipeline is); `unnest`
 * always writes by INSERT … unnest … ON CONFLICT DO NOTHING.
 */
async function rawConsumer(spec: string, databaseUrl: string, prefix: string, write: string) {
  const [k, of] = spec.split('/').map(Number) as [number, number]
  const layout = layoutOf(prefix)
  const keys = Array.from({ length: layout.partitions }, (_, p) => p)
    .filter((p) => p % of === k)
    .map((p) => partitionStream(layout, p))
  const redis = new Redis(args['redis-url'] as string)
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  const insert = `INSERT INTO transactions (${TX_COLUMNS}) SELECT * FROM unnest(${TX_TYPES.map((type, i) => `$${i + 1}::${type}[]`).join(', ')}) ON CONFLICT (txn_id) DO NOTHING`
  const copyText = (value: string | null) =>
    value === null
      ? '\\N'
      : value.replace(
          /[\\\t\n\r]/g,
          (c) => `\\${({ '\t': 't', '\n': 'n', '\r': 'r' } as Record<string, string>)[c] ?? c}`,
        )
  const store = async (columns: (string | null)[][]) => {
    if (write === 'unnest') return pool.query(insert, columns)
    const client = await pool.connect()
    try {
      const lines = (columns[0] ?? []).map((_, row) =>
        columns.map((column) => copyText(column[row] ?? null)).join('\t'),
      )
      await client.query('BEGIN')
      const stream = client.query(copyFrom(`COPY transactions (${TX_COLUMNS}) FROM STDIN`))
      stream.end(`${lines.join('\n')}\n`)
      const copied = await finished(stream).then(
        () => true,
        (error: { code?: string }) => {
          if (error.code !== '23505') throw error
          return false
        },
      )
      await client.query(copied ? 'COMMIT' : 'ROLLBACK')
      if (!copied) await client.query(insert, columns)
    } finally {
      client.release()
    }
  }
  let inflight: Promise<unknown> = Promise.resolve()
  let stopping = false
  process.on('SIGTERM', () => (stopping = true))
  // XADD → commit of every entry, as the pipeline measures it (its /metrics histogram): SIGUSR2 prints it.
  const latency = new LatencyHistogram()
  process.on('SIGUSR2', () => process.stdout.write(`raw-latency ${JSON.stringify(latency.snapshot())}\n`))
  while (!stopping) {
    const reply = (await redis.xreadgroup(
      'GROUP',
      RAW_GROUP,
      `raw-${k}`,
      'COUNT',
      Math.ceil(4000 / keys.length),
      'BLOCK',
      500,
      'STREAMS',
      ...keys,
      ...keys.map(() => '>'),
    )) as [string, [string, string[]][]][] | null
    if (reply === null) continue
    const columns = [...FIELDS, ...Object.keys(RAW_SCORE)].map(() => [] as (string | null)[])
    const acks: [string, string[]][] = []
    for (const [key, entries] of reply) {
      acks.push([key, entries.map(([id]) => id)])
      for (const [, fields] of entries) {
        const record: Record<string, string> = {}
        for (let i = 0; i < fields.length; i += 2) record[fields[i] as string] = fields[i + 1] as string
        FIELDS.forEach((field, index) => columns[index]?.push(record[field] ?? null))
        Object.values(RAW_SCORE).forEach((value, index) => columns[FIELDS.length + index]?.push(value))
      }
    }
    await inflight
    inflight = store(columns).then(() => {
      const now = Date.now()
      for (const [, ids] of acks) for (const id of ids) latency.record(now - Number(id.split('-')[0]))
      return Promise.all(acks.map(([key, ids]) => redis.xack(key, RAW_GROUP, ...ids)))
    })
  }
  await inflight
  redis.disconnect()
  await pool.end()
}

/** CPU seconds a process has used so far (Linux /proc). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return Number.NaN
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function main() {
  if (args['raw-consumer'] !== undefined)
    return rawConsumer(
      args['raw-consumer'],
      args.database as string,
      args.prefix as string,
      args['raw-write'] as string,
    )
  const n = Number(args.n)
  const cli = new URL('../out/main/cli.js', import.meta.url)
  const loadAtStart = loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')
  if (!existsSync(cli)) throw new Error('The pipeline is measured as shipped: run `npm run build` first.')
  const adminUrl = args['postgres-url'] as string
  const redisUrl = args['redis-url'] as string
  const suffix = `${Date.now().toString(36)}_${process.pid}`
  const databaseName = `aether_bench_${suffix}`
  const prefix = `aether_bench_${suffix}:`
  const layout = layoutOf(prefix)
  const databaseUrl = Object.assign(new URL(adminUrl), { pathname: `/${databaseName}` }).toString()
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${databaseName}`)
  const redis = new Redis(redisUrl)
  const children = new Set<ChildProcess>()
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2, application_name: 'aether-bench' })
  // An idle client dropped by the server must not end the run with an error that hides the real one.
  db.on('error', () => {})
  try {
    const store = openPostgresStore({ connectionString: databaseUrl })
    await migrateToLatest(store)
    for (const entry of GENERATOR_BLOCKLIST)
      await store.db.executeQuery(
        CompiledQuery.raw(
          `INSERT INTO lists (kind, value, network, reason) VALUES ($1, $2, $3::cidr, 'bench')`,
          [entry.kind, entry.value, entry.value],
        ),
      )
    await store.close()

    console.log(
      `Prefilling ${n.toLocaleString('en-US')} generated transactions into ${prefix}tx (8 partitions)…`,
    )
    const traffic = generateTraffic({ seed: 42 })
    const prefill = await replay({
      redis: { url: redisUrl },
      layout,
      rows: (function* () {
        for (let i = 0; i < n; i++) yield { txn: traffic.next().value.txn }
      })(),
    })

    const breakdownCount = Math.min(n, 100_000)
    process.stdout.write(
      `PostgreSQL's side of the commit, statement by statement, ${breakdownCount.toLocaleString('en-US')} transactions… `,
    )
    const breakdown = await runBreakdown({ databaseUrl, count: breakdownCount })
    console.log('done')

    const stored = async () => Number((await db.query('SELECT count(*) AS n FROM transactions')).rows[0].n)
    const reset = async (group: string) => {
      // The scores are on the transactions’ rows (0015).
      await db.query(
        'TRUNCATE transactions, alerts, cases, case_events, user_features, pipeline_partitions CASCADE',
      )
      for (let p = 0; p < layout.partitions; p++) {
        const key = partitionStream(layout, p)
        for (const name of [CONSUMER_GROUP, RAW_GROUP])
          await redis.call('XGROUP', 'DESTROY', key, name).catch(() => {})
        // A group that never reads: the workers trim what every group has acknowledged, and the runs
        // drain the same entries again and again.
        await redis.call('XGROUP', 'CREATE', key, KEEP_GROUP, '0').catch(() => {})
        await redis.call('XGROUP', 'CREATE', key, group, '0')
        await redis.del(partitionLease(layout, p))
      }
      await redis.del(`${prefix}workers`)
    }
    /**
     * A consumer that ended before the bench stopped it (a crash, killed from outside): every wait below
     * ends with this error instead of waiting for entries that nobody stores.
     */
    let ended: Error | undefined
    const stopping = new Set<ChildProcess>()
    const onEnded: (() => void)[] = []
    const alive = () => {
      if (ended !== undefined) throw ended
    }
    const start = (argv: string[]) => {
      const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] })
      children.add(child)
      child.once('exit', (code, signal) => {
        if (stopping.has(child)) return
        const what = argv.includes('--raw-consumer') ? 'the bare consumer' : 'a pipeline worker'
        ended ??= new Error(
          `${what} (pid ${child.pid}) ended before the bench stopped it (${signal ?? `exit code ${code}`}); anything it printed is above`,
        )
        for (const wake of onEnded.splice(0)) wake()
      })
      return child
    }
    const workerArgs = [
      '--postgres-url',
      databaseUrl,
      '--redis-url',
      redisUrl,
      '--prefix',
      prefix,
      '--metrics-port',
      '0',
    ]
    const stop = async (procs: ChildProcess[]) => {
      for (const child of procs) stopping.add(child)
      for (const child of procs) child.kill('SIGTERM')
      // One that has ended already (between the last check and here) has no 'exit' left to wait for.
      const running = procs.filter((child) => child.exitCode === null && child.signalCode === null)
      await Promise.all(running.map((child) => new Promise((resolve) => child.once('exit', resolve))))
      for (const child of procs) {
        children.delete(child)
        stopping.delete(child)
      }
    }

    /** Entries the group has acknowledged over all partitions (read from Redis: it costs the store nothing). */
    const acked = async (group: string) => {
      const pipeline = redis.pipeline()
      for (let p = 0; p < layout.partitions; p++) pipeline.call('XINFO', 'GROUPS', partitionStream(layout, p))
      let total = 0
      for (const [, groups] of (await pipeline.exec()) ?? []) {
        for (const flat of groups as unknown[][]) {
          const info = new Map<string, unknown>()
          for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1])
          if (info.get('name') === group)
            total += Number(info.get('entries-read')) - Number(info.get('pending'))
        }
      }
      return total
    }
    /**
     * CPU seconds of each PostgreSQL backend serving the consumers, when first and last seen; one that
     * connects during the drain counts from zero (nearly all its life is inside it).
     */
    const backendCpu = async (seen: Map<number, { first: number; last: number }>, fromZero: boolean) => {
      const { rows } = await db.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'
            AND application_name <> 'aether-bench'`,
        [databaseName],
      )
      for (const { pid } of rows) {
        const cpu = cpuSeconds(pid)
        if (Number.isNaN(cpu)) continue
        const known = seen.get(pid)
        if (known === undefined) seen.set(pid, { first: fromZero ? 0 : cpu, last: cpu })
        else known.last = cpu
      }
    }

    /** Whether the workers' users' states count every stored transaction (their checkpoints, 0017). */
    const statesWritten = async () => Number((await db.query(STATES_BEHIND)).rows[0].n) === 0

    /**
     * Starts the consumers, and times the drain from the first acknowledged entry to the last (an entry
     * is acknowledged only after its commit), with the CPU of the consumers and of their backends. With
     * `settled`, the CPU counts until it holds too: the pipeline writes its users' states at checkpoints
     * (every 10 s, and when the stream goes quiet), and the last one's work belongs to the drain.
     */
    const drain = async (
      label: string,
      group: string,
      procs: () => ChildProcess[],
      settled?: () => Promise<boolean>,
    ) => {
      process.stdout.write(`${label}… `)
      const started = procs()
      while ((await acked(group)) === 0) {
        alive()
        await sleep(20)
      }
      const t0 = performance.now()
      const cpu0 = started.map((child) => cpuSeconds(child.pid))
      const backends = new Map<number, { first: number; last: number }>()
      await backendCpu(backends, false)
      let done = await acked(group)
      while (done < n) {
        alive()
        await sleep(50)
        done = await acked(group)
        await backendCpu(backends, true)
      }
      const seconds = (performance.now() - t0) / 1000
      while (settled !== undefined && !(await settled())) {
        alive()
        await sleep(50)
        await backendCpu(backends, true)
      }
      const cpu = started.map((child, i) => (cpuSeconds(child.pid) - (cpu0[i] as number)) / seconds)
      const postgresCpu = [...backends.values()].reduce((sum, b) => sum + b.last - b.first, 0) / seconds
      await stop(started)
      const count = await stored()
      if (count !== n) throw new Error(`${label}: ${count} transactions stored, ${n} expected`)
      const rate = count / seconds
      console.log(`${Math.round(rate).toLocaleString('en-US')} tx/s`)
      return { label, processes: started.length, rate, cpu, postgresCpu }
    }

    const raw = (k: number, of: number, write: string) =>
      start([
        '--import',
        'tsx',
        new URL(import.meta.url).pathname,
        '--raw-consumer',
        `${k}/${of}`,
        '--raw-write',
        write,
        '--database',
        databaseUrl,
        '--prefix',
        prefix,
        '--redis-url',
        redisUrl,
      ])
    const profile = args['cpu-prof']
    const worker = () =>
      start([
        ...(profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`]),
        ...workerNodeOptions,
        new URL('../bin/aether.js', import.meta.url).pathname,
        'worker',
        ...workerArgs,
      ])

    type Run = Awaited<ReturnType<typeof drain>>
    const results: {
      rawRun: Run
      unnestRun: Run | undefined
      pipelineRun: Run
      processes: number
      round: number
    }[] = []
    const drains = args.processes === 'none' ? [] : (args.processes as string).split(',').map(Number)
    for (let round = 1; round <= rounds; round++)
      for (const processes of drains) {
        const of = rounds > 1 ? `, round ${round} of ${rounds}` : ''
        let unnestRun: Awaited<ReturnType<typeof drain>> | undefined
        if (args['raw-unnest']) {
          await reset(RAW_GROUP)
          unnestRun = await drain(`raw INSERT … unnest, ${processes} process(es)${of}`, RAW_GROUP, () =>
            Array.from({ length: processes }, (_, k) => raw(k, processes, 'unnest')),
          )
        }
        await reset(RAW_GROUP)
        const rawRun = await drain(`raw ceiling (COPY), ${processes} process(es)${of}`, RAW_GROUP, () =>
          Array.from({ length: processes }, (_, k) => raw(k, processes, 'copy')),
        )
        await reset(CONSUMER_GROUP)
        const pipelineRun = await drain(
          `pipeline, ${processes} worker process(es)${of}`,
          CONSUMER_GROUP,
          () => Array.from({ length: processes }, () => worker()),
          statesWritten,
        )
        results.push({ rawRun, unnestRun, pipelineRun, processes, round })
      }

    // Latency: 500 tx/s, then 5,000 tx/s offered to one worker, then to two; the workers' histograms
    // (summed) before and after each.
    const seconds = Number(args['latency-seconds'])
    /** A sample of one worker's /metrics text: the number after `name` (labels included), 0 if absent. */
    const sample = (text: string, name: string) =>
      Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} ([\\d.e+-]+)$`, 'm').exec(text)?.[1] ?? 0)
    /** The sum of a metric's samples over all its labels in one worker's /metrics text. */
    const summed = (text: string, name: string) =>
      [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'gm'))].reduce(
        (total, match) => total + Number(match[1]),
        0,
      )
    /** A histogram of the workers' /metrics (summed): cumulative counts per bound (seconds or plain), count, sum. */
    const histogram = (texts: string[], name: string, bounds: readonly number[], unit: number) => {
      const cumulative = bounds.map((bound) =>
        texts.reduce((total, text) => total + sample(text, `${name}_bucket{le="${bound / unit}"}`), 0),
      )
      const count = texts.reduce((total, text) => total + sample(text, `${name}_count`), 0)
      const sum = texts.reduce((total, text) => total + sample(text, `${name}_sum`), 0)
      return { cumulative, count, sum }
    }
    // XADD → commit, the store transaction of each batch (both in seconds), and entries per batch.
    const HISTOGRAMS = [
      { name: 'aether_ingest_latency_seconds', bounds: LATENCY_BUCKETS_MS, unit: 1000 },
      { name: 'aether_ingest_commit_seconds', bounds: LATENCY_BUCKETS_MS, unit: 1000 },
      { name: 'aether_ingest_batch_size', bounds: BATCH_SIZE_BUCKETS, unit: 1 },
      // Where XADD → commit went before the commit (the worker's stage histograms).
      { name: 'aether_ingest_read_wait_seconds', bounds: LATENCY_BUCKETS_MS, unit: 1000 },
      { name: 'aether_ingest_prepare_seconds', bounds: LATENCY_BUCKETS_MS, unit: 1000 },
      { name: 'aether_ingest_queued_seconds', bounds: LATENCY_BUCKETS_MS, unit: 1000 },
    ] as const
    type Histogram = ReturnType<typeof histogram>
    /** What a histogram gained over one offered window (between). */
    type Gained = ReturnType<typeof between>
    /** Quantiles of what a histogram gained between two readings. */
    const between = (before: Histogram, after: Histogram, bounds: readonly number[]) => {
      const counts = after.cumulative.map((value, i) => value - (before.cumulative[i] as number))
      const perBucket = counts.map((value, i) => value - (i === 0 ? 0 : (counts[i - 1] as number)))
      perBucket.push(after.count - before.count - (counts.at(-1) as number))
      const window = { counts: perBucket, count: after.count - before.count }
      const [p50, p95, p99] = [0.5, 0.95, 0.99].map(
        (q) => latencyQuantile(window, q, bounds) ?? Number.NaN,
      ) as [number, number, number]
      return {
        p50,
        p95,
        p99,
        count: window.count,
        sum: after.sum - before.sum,
        mean: (after.sum - before.sum) / Math.max(1, window.count),
      }
    }
    const warmTraffic = generateTraffic({ seed: 43 })
    let offeredTotal = 0
    /** A fresh group, the store emptied: the consumers read only what is offered from here on. */
    const resetAtEnd = async (group: string) => {
      await reset(group)
      offeredTotal = 0
      for (let p = 0; p < layout.partitions; p++) {
        const key = partitionStream(layout, p)
        const [last] = (await redis.xrevrange(key, '+', '-', 'COUNT', 1)) as [string, string[]][]
        if (last !== undefined) await redis.call('XGROUP', 'SETID', key, group, last[0])
      }
    }
    // Generated before it is offered: the producer's CPU on this 2-core machine is the consumers' to
    // use, so while it runs the producer only sends (tps / 200 entries every 5 ms).
    const offer = async (count: number, tps: number) => {
      const rows = Array.from({ length: count }, () => ({ txn: warmTraffic.next().value.txn }))
      const offered = await replay({ redis: { url: redisUrl }, layout, tps, rows })
      offeredTotal += offered.sent
      while ((await stored()) < offeredTotal) {
        alive()
        await sleep(100)
      }
      return offered
    }
    /**
     * The reference: the bare consumer's XADD → commit at the same rates (one process, all 8 partitions,
     * one commit in flight, each batch one INSERT … unnest, so one round trip as the pipeline's small
     * batches): what this machine gives a consumer that validates, scores and remembers nothing.
     */
    const rawLatency = async () => {
      await resetAtEnd(RAW_GROUP)
      const child = raw(0, 1, 'unnest')
      const waiting: ((text: string) => void)[] = []
      let out = ''
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        for (let newline = out.indexOf('\n'); newline >= 0; newline = out.indexOf('\n')) {
          const line = out.slice(0, newline)
          out = out.slice(newline + 1)
          if (line.startsWith('raw-latency ')) waiting.shift()?.(line.slice('raw-latency '.length))
        }
      })
      /** Its histogram (it prints it on SIGUSR2); fails if it has ended or does not answer within 30 s. */
      const reading = () =>
        new Promise<Histogram>((resolve, reject) => {
          alive()
          const fail = (error: unknown) => {
            clearTimeout(timer)
            reject(error as Error)
          }
          const timer = setTimeout(
            () => fail(new Error('the bare consumer did not print its latency within 30 s of SIGUSR2')),
            30_000,
          )
          onEnded.push(() => fail(ended))
          waiting.push((text) => {
            clearTimeout(timer)
            const snapshot = JSON.parse(text) as HistogramSnapshot
            let total = 0
            const cumulative = snapshot.counts.slice(0, -1).map((count) => (total += count))
            resolve({ cumulative, count: snapshot.count, sum: snapshot.sum })
          })
          child.kill('SIGUSR2')
        })
      await offer(5000, 5000)
      const at = async (tps: number) => {
        await sleep(1500)
        const before = await reading()
        await offer(seconds * tps, tps)
        await sleep(1500)
        return { tps, ...between(before, await reading(), LATENCY_BUCKETS_MS) }
      }
      const measured = [await at(500), await at(5000)]
      await stop([child])
      return measured
    }
    const latencyWith = async (workers: number) => {
      await resetAtEnd(CONSUMER_GROUP)
      const started = Array.from({ length: workers }, () => worker())
      const ports = await Promise.all(
        started.map(
          (child) =>
            new Promise<number>((resolve, reject) => {
              let out = ''
              child.stdout?.on('data', (chunk: Buffer) => {
                out += chunk.toString()
                const match = /127\.0\.0\.1:(\d+)\/metrics/.exec(out)
                if (match) resolve(Number(match[1]))
              })
              child.once('exit', () => reject(new Error(`the worker ended: ${out}`)))
            }),
        ),
      )
      const readings = async () => {
        const texts = await Promise.all(
          ports.map(async (port) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()),
        )
        return {
          at: performance.now(),
          histograms: HISTOGRAMS.map((h) => histogram(texts, h.name, h.bounds, h.unit)),
          cpu: texts.reduce((total, text) => total + sample(text, 'process_cpu_seconds_total'), 0),
          system: texts.reduce((total, text) => total + sample(text, 'process_cpu_system_seconds_total'), 0),
          // Every kind of pause (minor, major, incremental, weak callbacks), summed over the workers.
          gc: {
            count: texts.reduce((total, text) => total + summed(text, 'nodejs_gc_duration_seconds_count'), 0),
            sum: texts.reduce((total, text) => total + summed(text, 'nodejs_gc_duration_seconds_sum'), 0),
          },
          // Of them, the full (mark-compact) ones: the long pauses, after the old generation has grown.
          major: {
            count: texts.reduce((total, text) => total + sample(text, MAJOR_GC_COUNT), 0),
            sum: texts.reduce((total, text) => total + sample(text, MAJOR_GC_SUM), 0),
          },
        }
      }
      /** The XADD → commit quantiles of the transactions offered at `tps` for `seconds`, and where the time went. */
      const latencyAt = async (tps: number) => {
        await sleep(1500)
        const before = await readings()
        await offer(seconds * tps, tps)
        await sleep(1500)
        const after = await readings()
        const [latency, commit, batch, readWait, prepare, queued] = HISTOGRAMS.map((h, i) =>
          between(before.histograms[i] as Histogram, after.histograms[i] as Histogram, h.bounds),
        ) as Gained[] as [Gained, Gained, Gained, Gained, Gained, Gained]
        const offeredSeconds = (after.at - before.at - 3000) / 1000
        return {
          tps,
          workers,
          ...latency,
          commitP50: commit.p50,
          commitP99: commit.p99,
          stages: { readWait, prepare, queued },
          batchMean: batch.mean,
          // Each worker has one commit in flight at a time: the share of the offered time its store
          // transactions took (a queue forms behind a busy one).
          commitBusy: commit.sum / (offeredSeconds * workers),
          workerCpuUs: ((after.cpu - before.cpu) * 1e6) / Math.max(1, latency.count),
          workerSystem: (after.system - before.system) / Math.max(1e-9, after.cpu - before.cpu),
          gcPauses: after.gc.count - before.gc.count,
          gcMs: (after.gc.sum - before.gc.sum) * 1000,
          majorGcPauses: after.major.count - before.major.count,
          majorGcMs: (after.major.sum - before.major.sum) * 1000,
          offeredSeconds,
        }
      }
      await offer(5000, 5000)
      // Measured once the partitions are shared out (a takeover during a window would be measured too):
      // each worker holds the lease of partitions / workers of them.
      const owners = async () => {
        const leases = await Promise.all(
          Array.from({ length: layout.partitions }, (_, p) => redis.get(partitionLease(layout, p))),
        )
        const held = new Map<string, number>()
        for (const lease of leases)
          if (lease !== null) {
            const owner = ownerOfToken(lease)
            held.set(owner, (held.get(owner) ?? 0) + 1)
          }
        return [...held.values()]
      }
      const deadline = performance.now() + 60_000
      for (;;) {
        const held = await owners()
        if (held.length === workers && held.every((count) => count === layout.partitions / workers)) break
        if (performance.now() > deadline)
          throw new Error(`the partitions were not shared out: ${held.join(', ')}`)
        await sleep(200)
      }
      const measured = [await latencyAt(500), await latencyAt(5000)]
      await stop(started)
      return measured
    }
    type Reference = Awaited<ReturnType<typeof rawLatency>>[number]
    type Latency = Awaited<ReturnType<typeof latencyWith>>[number]
    /** Each round's: the bare consumer's at 500 and 5,000 tx/s; 1 worker's, then 2 workers', at the same. */
    const latencyRounds: { round: number; references: Reference[]; latencies: Latency[] }[] = []
    const p99s = (values: readonly { p99: number }[]) =>
      values.map((value) => value.p99.toFixed(1)).join(', ')
    for (let round = 1; round <= rounds; round++) {
      process.stdout.write(
        `latency${rounds > 1 ? ` (round ${round} of ${rounds})` : ''} at 500 and 5,000 tx/s for ${seconds} s each, the bare consumer, then 1 worker, then 2… `,
      )
      const references = await rawLatency()
      const latencies = [...(await latencyWith(1)), ...(await latencyWith(2))]
      latencyRounds.push({ round, references, latencies })
      console.log(
        `p99 at 500 and 5,000 tx/s: 1 worker ${p99s(latencies.slice(0, 2))} ms, 2 workers ${p99s(latencies.slice(2))} ms, the bare consumer ${p99s(references)} ms`,
      )
    }
    // The summary's figures: each the median over the rounds.
    const [slow, fast, slow2, fast2] = [0, 1, 2, 3].map((i) =>
      median(latencyRounds.map(({ latencies }) => (latencies[i] as Latency).p99)),
    ) as [number, number, number, number]
    const [rawSlow, rawFast] = [0, 1].map((i) =>
      median(latencyRounds.map(({ references }) => (references[i] as Reference).p99)),
    ) as [number, number]
    const soak = args.soak === undefined ? undefined : await runSoak({ seconds: Number(args.soak) })

    const fmt = (value: number) => Math.round(value).toLocaleString('en-US')
    const pct = (value: number) => `${Math.round(value * 100)}%`
    console.log(
      `\nIngest benchmark: ${fmt(n)} generated transactions (prefilled at ${fmt((prefill.sent * 1000) / prefill.elapsedMs)}/s), 8 partitions, the same entries drained by each run.`,
    )
    console.log(
      `Machine: ${cpus().length} cores, load average ${loadAtStart} at the start, ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} at the end; Node ${process.version}; ioredis 5.9.3.`,
    )
    if (workerNodeOptions.length > 0)
      console.log(
        `The pipeline workers ran with node ${workerNodeOptions.join(' ')} (the bare consumer without).`,
      )
    console.log('')
    console.log(
      '| run                                         | processes | tx/s     | of raw ceiling | CPU per process (cores) | PostgreSQL CPU (cores) | CPU µs per tx |',
    )
    console.log(
      '|---------------------------------------------|-----------|----------|----------------|-------------------------|------------------------|---------------|',
    )
    const roundOf = (round: number) => (rounds > 1 ? `, round ${round}` : '')
    for (const { rawRun, unnestRun, pipelineRun, round } of results) {
      const row = (name: string, run: typeof rawRun, ratio: string) =>
        console.log(
          `| ${name.padEnd(43)} | ${String(run.processes).padEnd(9)} | ${fmt(run.rate).padStart(8)} | ${ratio.padStart(14)} | ${run.cpu
            .map((c) => c.toFixed(2))
            .join(' + ')
            .padEnd(
              23,
            )} | ${run.postgresCpu.toFixed(2).padEnd(22)} | ${fmt(((run.cpu.reduce((a, b) => a + b, 0) + run.postgresCpu) * 1e6) / run.rate).padStart(13)} |`,
        )
      row(`raw ceiling: XREADGROUP → COPY → XACK${roundOf(round)}`, rawRun, '100%')
      if (unnestRun !== undefined)
        row(
          `raw: XREADGROUP → INSERT unnest → XACK${roundOf(round)}`,
          unnestRun,
          pct(unnestRun.rate / rawRun.rate),
        )
      row(
        `pipeline: validate, features, rules, state${roundOf(round)}`,
        pipelineRun,
        pct(pipelineRun.rate / rawRun.rate),
      )
    }
    for (const { round, references } of latencyRounds)
      for (const reference of references)
        console.log(
          `| ${`latency at ${fmt(reference.tps)} tx/s, bare consumer (unnest)${roundOf(round)}`.padEnd(43)} | ${'1'.padEnd(9)} | p50 ${reference.p50.toFixed(1)} ms, p95 ${reference.p95.toFixed(1)} ms, p99 ${reference.p99.toFixed(1)} ms over ${fmt(reference.count)} transactions: the reference (XREADGROUP → INSERT … unnest → XACK, nothing else) |`,
        )
    /** A stage's p50 and p99 (ms). */
    const stage = (figures: { p50: number; p99: number }) =>
      `p50 ${figures.p50.toFixed(1)} / p99 ${figures.p99.toFixed(1)} ms`
    for (const { round, latencies } of latencyRounds)
      for (const latency of latencies)
        console.log(
          `| ${`latency XADD → commit at ${fmt(latency.tps)} tx/s offered${roundOf(round)}`.padEnd(43)} | ${String(latency.workers).padEnd(9)} | p50 ${latency.p50.toFixed(1)} ms, p95 ${latency.p95.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms over ${fmt(latency.count)} transactions (1 ms buckets to 10 ms, interpolated); its batches' store transaction p50 ${latency.commitP50.toFixed(1)} ms, p99 ${latency.commitP99.toFixed(1)} ms, ${latency.batchMean.toFixed(0)} entries a batch on average; each worker's store transactions busy ${pct(latency.commitBusy)} of the time; worker CPU ${fmt(latency.workerCpuUs)} µs a transaction (${pct(latency.workerSystem)} of it in the kernel); ${fmt(latency.gcPauses)} GC pauses, ${fmt(latency.gcMs)} ms in all (${fmt(latency.majorGcPauses)} full, ${fmt(latency.majorGcMs)} ms); before its commit an entry waited ${stage(latency.stages.readWait)} for a read to bring it, its batch was prepared in ${stage(latency.stages.prepare)} and waited ${stage(latency.stages.queued)} for the commit in flight |`,
        )
    console.log(
      "\nLatency: a worker keeps one store transaction in flight (the next batch is read and scored beside it), so an entry waits for the one in flight, then its own; where that lane is busy most of the time a queue forms, and the p99 is the queue's. The store transactions' time is mostly fixed per batch on this machine (a round trip and a commit among the other processes on two cores), and GC pauses (the worker's young generation, a few ms each) stop the worker whole. An entry's time before its commit is split into the wait for a read to bring it (the worker was busy with the batch before: its preparation, the wait for the commit in flight), its batch's preparation (rules, feature state loads, scoring) and its wait for the commit in flight; each stage's p99 is its own, they do not add up to the p99 of the whole.",
    )
    console.log(
      "\nCPU µs per tx: the consumers' and their PostgreSQL backends' CPU time per transaction stored (less sensitive to other load on the machine than tx/s); the pipeline's until its users' states are written too (its checkpoints, every 10 s and when the stream goes quiet: the last one after the drain).",
    )
    const us = (value: number) => `${value.toFixed(1)} µs`
    console.log(
      `\nPostgreSQL's side of a 500-row batch by COPY, per transaction (one connection, wall time; bench-ingest-breakdown.ts): transactions with their scores ${us(breakdown.transactions)} (the columns the raw ceiling writes too), alerts ${us(breakdown.alerts)}, user states ${us(breakdown.states)} if written with every batch (${Math.round(breakdown.stateBytes)} bytes of state JSON per transaction; the pipeline writes them at checkpoints, each user once per checkpoint), fences and COMMIT ${us(breakdown.commit)}.`,
    )
    console.log(
      '\nThe raw ceiling writes every column the pipeline writes into transactions (api_key_id, 0009, and the score columns, 0015, with a fixed score) into the same table with the same indexes; a change to that table changes the ceiling with it.',
    )
    console.log(
      '\nGoals: ≥ 80% of the raw ceiling with 1 and with 2 workers; CPU µs per tx ≤ 1.25× the raw consumer’s; p99 ≤ 25 ms at 5,000 tx/s and ≤ 10 ms at 500 tx/s.',
    )
    const cpuUs = (run: Run) => ((run.cpu.reduce((a, b) => a + b, 0) + run.postgresCpu) * 1e6) / run.rate
    type Pair = (typeof results)[number]
    /** Over the rounds' pairs with this many processes (raw and pipeline side by side): a figure's median. */
    const medianOf = (processes: number | undefined, figure: (pair: Pair) => number) => {
      const pairs = results.filter((pair) => pair.processes === processes)
      return pairs.length === 0 ? undefined : median(pairs.map(figure))
    }
    const ofRaw = (processes: number) => {
      const share = medianOf(processes, (pair) => pair.pipelineRun.rate / pair.rawRun.rate)
      return share === undefined ? 'n/a' : String(Math.round(share * 100))
    }
    const cpuRatio = (pair: Pair) => cpuUs(pair.pipelineRun) / cpuUs(pair.rawRun)
    for (const processes of drains)
      console.log(
        `\nCPU a transaction against the bare consumer's, ${processes} process(es)${
          rounds > 1
            ? `, round by round: ${results
                .filter((pair) => pair.processes === processes)
                .map((pair) => `${cpuRatio(pair).toFixed(2)}×`)
                .join(', ')}; the median`
            : ''
        }: ${(medianOf(processes, cpuRatio) as number).toFixed(2)}× (goal ≤ 1.25×).`,
      )
    const last = drains.includes(2) ? 2 : drains.includes(1) ? 1 : undefined
    const whole = (value: number | undefined) => (value === undefined ? 'n/a' : String(Math.round(value)))
    console.log(
      `bench:ingest: w1_pct=${ofRaw(1)} w2_pct=${ofRaw(2)} w2_tx_s=${whole(medianOf(2, (pair) => pair.pipelineRun.rate))} cpu_us=${whole(medianOf(last, (pair) => cpuUs(pair.pipelineRun)))} raw_cpu_us=${whole(medianOf(last, (pair) => cpuUs(pair.rawRun)))} p99_ms_5000=${fast.toFixed(1)} p99_ms_500=${slow.toFixed(1)} p99_ms_5000_w2=${fast2.toFixed(1)} p99_ms_500_w2=${slow2.toFixed(1)} raw_p99_ms_5000=${rawFast.toFixed(1)} raw_p99_ms_500=${rawSlow.toFixed(1)} cpu_x=${medianOf(last, cpuRatio)?.toFixed(2) ?? 'n/a'}${soak === undefined ? '' : ` soak_mem_pct=${soak.pct}`}`,
    )
  } finally {
    for (const child of children) child.kill('SIGKILL')
    await db.end()
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await redis.del(...keys)
    } while (cursor !== '0')
    redis.disconnect()
    await dropTeamDatabase(admin, databaseName)
    await admin.end()
  }
}

await main()
