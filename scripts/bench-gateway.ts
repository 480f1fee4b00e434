/**
 * npm run bench:gateway [-- --quick --seconds 10 --rates 500,1000,2000,5000 --batch-tx 100000
 *                          --postgres-url URL --redis-url URL]
 *
 * The Decision API under load, on a fresh database and key prefix, with one `aether worker` and one
 * `aether gateway` as child processes, and the load generator (autocannon) in a process of its own so
 * its CPU is not the gateway's. At each offered rate, three paths:
 *   - gateway: single synchronous POST /v1/transactions, each transaction unique (generated);
 *   - bare: a Fastify route that answers {} at once (the HTTP ceiling of the same framework);
 *   - direct: XADD with a reply field → the decision the worker publishes (no HTTP), from this process.
 * Then batches of 1,000 through POST /v1/transactions/batch as fast as they are accepted, against
 * `aether replay` straight into the streams, each timed until everything it sent is stored.
 * Not a test: figures depend on the machine and what else runs on it (the load average is printed).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { CompiledQuery } from 'kysely'
import pg from 'pg'
import { REPLY_FIELD, ReplyListener, replyChannel } from '../src/main/pipeline/decision-replies'
import {
  CONSUMER_GROUP,
  partitionOf,
  partitionStream,
  type StreamLayout,
} from '../src/main/pipeline/partitioning'
import { encodeTransaction } from '../src/main/pipeline/wire'
import { GENERATOR_BLOCKLIST, generateTraffic } from '../src/main/scoring/generator'
import { ApiKeyAdmin } from '../src/main/security/api-keys'
import { dropTeamDatabase } from '../src/main/store/drop-database'
import { migrateToLatest } from '../src/main/store/migrate'
import { openPostgresStore } from '../src/main/store/store'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    rates: { type: 'string', default: '500,1000,2000,5000' },
    'batch-tx': { type: 'string' },
    'budget-ms': { type: 'string', default: '100' },
    // A V8 CPU profile of the gateway process, written into this directory when it stops.
    'profile-gateway': { type: 'string' },
    'postgres-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    // Internal: this script is also the load generator and the bare endpoint, each in its own process.
    load: { type: 'string' },
    bare: { type: 'boolean', default: false },
  },
})

const PARTITIONS = 8
const BATCH_SIZE = 1000
/** Seeds of the generated traffic: each step its own, so no transaction is ever sent twice. */
let nextSeed = 1000
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** `aether …` from source, as the tests run it. */
const AETHER = [process.execPath, '--import', 'tsx', 'test/support/aether-cli.ts']

interface LoadSpec {
  url: string
  path: string
  key?: string
  seed: number
  /** Offered requests per second; none: as fast as answered. */
  rate?: number
  seconds?: number
  /** Requests in all (instead of seconds). */
  amount?: number
  connections: number
  /** Transactions per request: a batch body `{transactions: […]}` when set. */
  batch?: number
  /** A decision counts as final only when answered final within this (the gateway's own latency_ms). */
  budgetMs?: number
}

interface LoadResult {
  offered: number
  achieved: number
  p50: number
  p99: number
  ok: number
  final: number
  accepted: number
  errors: number
  seconds: number
}

/** The load generator's process: autocannon with a unique generated body per request. */
async function runLoad(spec: LoadSpec): Promise<void> {
  const { default: autocannon } = await import('autocannon')
  const traffic = generateTraffic({ seed: spec.seed })
  const body = () =>
    spec.batch === undefined
      ? JSON.stringify(traffic.next().value.txn)
      : JSON.stringify({
          transactions: Array.from({ length: spec.batch }, () => traffic.next().value.txn),
        })
  let final = 0
  let accepted = 0
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    ...(spec.seconds !== undefined ? { duration: spec.seconds } : {}),
    ...(spec.amount !== undefined ? { amount: spec.amount } : {}),
    ...(spec.rate !== undefined ? { overallRate: spec.rate } : {}),
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: spec.path,
        headers: {
          'content-type': 'application/json',
          ...(spec.key !== undefined ? { authorization: `Bearer ${spec.key}` } : {}),
        },
        setupRequest: (request) => ({ ...request, body: body() }),
        onResponse: (status, text) => {
          // Final within the budget: past it the gateway may still answer with the stored decision.
          if (
            status === 200 &&
            text.includes('"final":true') &&
            Number(/"latency_ms":([\d.]+)/.exec(text)?.[1] ?? Infinity) <= (spec.budgetMs ?? Infinity)
          )
            final++
          if (status === 202) accepted += Number(/"accepted":(\d+)/.exec(text)?.[1] ?? 0)
        },
      },
    ],
  })
  const out: LoadResult = {
    offered: spec.rate ?? 0,
    achieved: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: result['2xx'],
    final,
    accepted,
    errors: result.errors + result.timeouts + result.non2xx,
    seconds: result.duration,
  }
  console.log(`RESULT ${JSON.stringify(out)}`)
}

/** The reference: the same framework, a route that answers at once. */
async function runBare(): Promise<void> {
  const { default: Fastify } = await import('fastify')
  const app = Fastify({ logger: false })
  app.post('/bare', async () => ({}))
  console.log(`bare at ${await app.listen({ host: '127.0.0.1', port: 0 })}`)
}

const quantile = (sorted: number[], q: number) =>
  sorted.length === 0
    ? NaN
    : (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number)

async function main() {
  if (args.load !== undefined) return runLoad(JSON.parse(args.load) as LoadSpec)
  if (args.bare) return runBare()

  const quick = args.quick === true
  const seconds = Number(args.seconds ?? (quick ? 3 : 10))
  const rates = String(args.rates)
    .split(',')
    .map((rate) => Number(rate.trim()))
  const batchTx = Number(args['batch-tx'] ?? (quick ? 30_000 : 100_000))
  const budgetMs = Number(args['budget-ms'])
  if (rates.some((rate) => !Number.isInteger(rate) || rate < 1) || !(seconds > 0) || !(batchTx >= BATCH_SIZE))
    throw new Error('--rates are whole numbers (500,1000), --seconds > 0, --batch-tx ≥ 1000')
  const load0 = loadavg()

  const adminUrl = args['postgres-url'] as string
  const redisUrl = args['redis-url'] as string
  const suffix = `${Date.now().toString(36)}_${process.pid}`
  const databaseName = `aether_benchgw_${suffix}`
  const prefix = `aether_benchgw_${suffix}:`
  const layout: StreamLayout = { prefix, partitions: PARTITIONS }
  const databaseUrl = Object.assign(new URL(adminUrl), { pathname: `/${databaseName}` }).toString()
  const progressDir = mkdtempSync(join(tmpdir(), 'aether-benchgw-'))
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${databaseName}`)
  const redis = new Redis(redisUrl)
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2, application_name: 'aether-bench' })
  db.on('error', () => {})
  const children = new Set<ChildProcess>()
  let direct: ReplyListener | undefined

  /** A child process; `ready` resolves with the first match of `pattern` in its output. */
  const start = (argv: string[], pattern?: RegExp) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    let output = ''
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const ready = new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        const match = pattern?.exec(output)
        if (match) resolve(match[1] as string)
      }
      child.stdout?.on('data', onData)
      child.stderr?.on('data', onData)
      void exited.then((code) => reject(new Error(`${argv.slice(3).join(' ')} exited (${code}): ${output}`)))
    })
    ready.catch(() => {})
    return { child, ready, exited, output: () => output }
  }
  const load = async (spec: Omit<LoadSpec, 'seed'>): Promise<LoadResult> => {
    const run = start(
      [
        process.execPath,
        '--import',
        'tsx',
        'scripts/bench-gateway.ts',
        '--load',
        JSON.stringify({ ...spec, seed: nextSeed++ }),
      ],
      /RESULT (.*)/,
    )
    const line = await run.ready
    await run.exited
    children.delete(run.child)
    return JSON.parse(line) as LoadResult
  }
  const stored = async () => Number((await db.query('SELECT count(*) AS n FROM transactions')).rows[0].n)
  /** Waits until `count` transactions are stored; the time it was reached. */
  const storedReach = async (count: number, timeoutMs = 300_000) => {
    const until = performance.now() + timeoutMs
    for (;;) {
      if ((await stored()) >= count) return performance.now()
      if (performance.now() > until)
        throw new Error(`fewer than ${count} transactions stored after ${timeoutMs / 1000} s`)
      await sleep(50)
    }
  }

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
    // The key is made as an admin makes it (`aether apikey add`).
    const key = (await new ApiKeyAdmin(store.db).add('bench', ['submit', 'read'])).key
    await store.close()

    // A worker takes only the partitions whose stream exists (the gateway also makes them at its start):
    // made before either process starts, so the worker owns them all at once.
    for (let p = 0; p < PARTITIONS; p++)
      await redis.call('XGROUP', 'CREATE', partitionStream(layout, p), CONSUMER_GROUP, '0', 'MKSTREAM')
    const common = ['--postgres-url', databaseUrl, '--redis-url', redisUrl, '--prefix', prefix]
    const worker = start(
      [...AETHER, 'worker', ...common, '--partitions', String(PARTITIONS), '--metrics-port', '0'],
      /metrics at (\S+)/,
    )
    const gateway = start(
      [
        process.execPath,
        ...(args['profile-gateway'] !== undefined
          ? ['--cpu-prof', '--cpu-prof-dir', args['profile-gateway']]
          : []),
        ...AETHER.slice(1),
        'gateway',
        ...common,
        '--partitions',
        String(PARTITIONS),
        '--port',
        '0',
        '--budget-ms',
        String(budgetMs),
        // The bench measures the gateway, not a key's budget or the backpressure bound.
        '--rate-limit',
        '1000000/s',
        '--max-backlog',
        '10000000',
        '--log-level',
        'warn',
      ],
      /Decision API at (\S+) /,
    )
    const bare = start(
      [process.execPath, '--import', 'tsx', 'scripts/bench-gateway.ts', '--bare'],
      /bare at (\S+)/,
    )
    const [gatewayUrl, bareUrl] = await Promise.all([gateway.ready, bare.ready, worker.ready])
    for (;;) {
      const ready = await fetch(`${gatewayUrl}/readyz`).catch(() => undefined)
      if (ready?.status === 200) break
      await sleep(200)
    }

    // The direct path: this process XADDs with a reply field and waits for the published decision.
    direct = new ReplyListener({ url: redisUrl }, replyChannel(layout, 'bench-direct'))
    await direct.start()
    const listener = direct
    const directStep = async (rate: number): Promise<LoadResult> => {
      const traffic = generateTraffic({ seed: nextSeed++ })
      const total = Math.round(rate * seconds)
      const latencies: number[] = []
      let final = 0
      let errors = 0
      const one = async () => {
        const txn = traffic.next().value.txn
        const sentAt = performance.now()
        const waiter = listener.wait(txn.txn_id, 10_000)
        const fields = encodeTransaction(txn)
        fields.push(REPLY_FIELD, listener.channel)
        try {
          await redis.xadd(partitionStream(layout, partitionOf(txn.user_id, PARTITIONS)), '*', ...fields)
        } catch {
          waiter.cancel()
          errors++
          return
        }
        if ((await waiter.promise) === undefined) return void errors++
        const ms = performance.now() - sentAt
        latencies.push(ms)
        if (ms <= budgetMs) final++
      }
      const inFlight: Promise<void>[] = []
      const t0 = performance.now()
      let sent = 0
      while (sent < total) {
        const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000))
        for (; sent < due; sent++) inFlight.push(one())
        await sleep(2)
      }
      const sendSeconds = (performance.now() - t0) / 1000
      await Promise.all(inFlight)
      latencies.sort((a, b) => a - b)
      return {
        offered: rate,
        achieved: total / sendSeconds,
        p50: quantile(latencies, 0.5),
        p99: quantile(latencies, 0.99),
        ok: latencies.length,
        final,
        accepted: 0,
        errors,
        seconds: sendSeconds,
      }
    }
    /** Lets the worker drain what a step left on the streams, so the next step starts even. */
    let expected = 0
    const settle = async (added: number) => {
      expected += added
      await storedReach(expected)
    }

    // A short warm-up of each path (JIT, connections, the worker's user state cache).
    process.stdout.write('Warming up… ')
    const warm = await load({
      url: gatewayUrl,
      path: '/v1/transactions',
      key,
      rate: 200,
      seconds: 2,
      connections: 20,
    })
    await settle(warm.ok)
    await load({ url: bareUrl, path: '/bare', rate: 200, seconds: 2, connections: 20 })
    console.log('done.')

    const rows: { path: string; result: LoadResult }[] = []
    for (const rate of rates) {
      const connections = Math.max(50, Math.round(rate / 10))
      process.stdout.write(`${rate} req/s: bare… `)
      rows.push({
        path: 'bare',
        result: await load({ url: bareUrl, path: '/bare', rate, seconds, connections }),
      })
      process.stdout.write('gateway… ')
      const gw = await load({
        url: gatewayUrl,
        path: '/v1/transactions',
        key,
        rate,
        seconds,
        connections,
        budgetMs,
      })
      rows.push({ path: 'gateway', result: gw })
      await settle(gw.ok)
      process.stdout.write('direct… ')
      const dr = await directStep(rate)
      rows.push({ path: 'direct', result: dr })
      await settle(dr.ok)
      console.log('done.')
    }

    // Batches as fast as they are accepted, timed from the first request to the last transaction stored.
    process.stdout.write(
      `Batch: ${batchTx.toLocaleString('en-US')} transactions in batches of ${BATCH_SIZE}… `,
    )
    const batchFrom = performance.now()
    const batch = await load({
      url: gatewayUrl,
      path: '/v1/transactions/batch',
      key,
      amount: Math.ceil(batchTx / BATCH_SIZE),
      connections: Math.min(4, Math.ceil(batchTx / BATCH_SIZE)),
      batch: BATCH_SIZE,
    })
    const batchAcceptedS = (performance.now() - batchFrom) / 1000
    await settle(batch.accepted)
    const batchSeconds = (performance.now() - batchFrom) / 1000
    const batchTxS = batch.accepted / batchSeconds
    console.log(`${Math.round(batchTxS)} tx/s stored.`)

    process.stdout.write(`aether replay: ${batchTx.toLocaleString('en-US')} generated transactions… `)
    const replayFrom = performance.now()
    const replay = start([
      ...AETHER,
      'replay',
      '--generate',
      String(batchTx),
      '--seed',
      String(nextSeed++),
      '--redis-url',
      redisUrl,
      '--prefix',
      prefix,
      '--partitions',
      String(PARTITIONS),
      '--progress',
      join(progressDir, 'progress.json'),
      '--log-level',
      'warn',
    ])
    const replayCode = await replay.exited
    if (replayCode !== 0) throw new Error(`aether replay failed: ${replay.output()}`)
    await settle(batchTx)
    const replaySeconds = (performance.now() - replayFrom) / 1000
    const replayTxS = batchTx / replaySeconds
    console.log(`${Math.round(replayTxS)} tx/s stored.`)

    const load1 = loadavg()
    const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-')
    const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-')
    const pct = (part: number, all: number) => (all > 0 ? `${((part * 100) / all).toFixed(2)}%` : '-')
    console.log(
      `\nDecision API benchmark: ${seconds} s per step, budget ${budgetMs} ms, ${PARTITIONS} partitions, 1 worker, 1 gateway, the load generator in its own process.`,
    )
    console.log(
      `Machine: ${cpus().length} cores, load average ${load0.map((l) => l.toFixed(1)).join(' ')} at the start, ${load1.map((l) => l.toFixed(1)).join(' ')} at the end; Node ${process.version}.\n`,
    )
    console.log('| path    | offered req/s | achieved req/s | p50 ms | p99 ms | % final | errors |')
    console.log('|---------|---------------|----------------|--------|--------|---------|--------|')
    for (const { path, result } of rows)
      console.log(
        `| ${path.padEnd(7)} | ${fmt(result.offered).padStart(13)} | ${fmt(result.achieved).padStart(14)} | ${ms(result.p50).padStart(6)} | ${ms(result.p99).padStart(6)} | ${(path === 'bare' ? '-' : pct(result.final, result.ok + result.errors)).padStart(7)} | ${String(result.errors).padStart(6)} |`,
      )
    console.log(
      `\nBatch (POST /v1/transactions/batch, ${BATCH_SIZE} per request, 4 connections): ${fmt(batch.accepted)} accepted in ${batchAcceptedS.toFixed(1)} s (${fmt(batch.accepted / batchAcceptedS)} tx/s accepted), all stored after ${batchSeconds.toFixed(1)} s: ${fmt(batchTxS)} tx/s; ${batch.errors} errors.`,
    )
    console.log(
      `aether replay into the streams: ${fmt(batchTx)} stored after ${replaySeconds.toFixed(1)} s: ${fmt(replayTxS)} tx/s (process start included).`,
    )
    console.log(
      '% final: decisions answered final (stored, within the budget) over all requests; direct: replies within the budget.',
    )
    const at2000 = rows.find((row) => row.path === 'gateway' && row.result.offered === 2000)?.result
    console.log(
      `bench:gateway: sync_p99_ms=${at2000 ? ms(at2000.p99) : 'n/a'} sync_final_pct=${at2000 ? pct(at2000.final, at2000.ok + at2000.errors).replace('%', '') : 'n/a'} batch_tx_s=${Math.round(batchTxS)} batch_ratio=${replayTxS > 0 ? (batchTxS / replayTxS).toFixed(2) : 'n/a'}`,
    )
  } finally {
    // Stopped gracefully first (a profile is written at exit), killed if they linger.
    for (const child of children) child.kill('SIGTERM')
    await Promise.race([
      Promise.all(
        [...children].map((child) =>
          child.exitCode === null && child.signalCode === null
            ? new Promise((r) => child.once('exit', r))
            : null,
        ),
      ),
      sleep(10_000),
    ])
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await direct?.stop()
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
    rmSync(progressDir, { recursive: true, force: true })
  }
}

await main()
