/**
 * npm run bench:gateway [-- --quick --seconds 10 --rates 500,1000,2000,5000 --batch-tx 100000
 *                          --gateways 1 --cpu-prof DIR --postgres-url URL --redis-url URL]
 *
 * The Decision API under load, on a fresh database and key prefix, with one `aether worker` and
 * `--gateways` `aether gateway` processes (requests spread over them in turn, as a round-robin load
 * balancer would), and the load generator in a process of its own so its CPU is not the gateway's. At
 * each offered rate, three paths:
 *   - gateway: single synchronous POST /v1/transactions, each transaction unique (generated);
 *   - bare: a Fastify route that answers {} at once (the HTTP ceiling of the same framework);
 *   - direct: XADD with a reply field → the decision the worker publishes (no HTTP).
 * Then batches of 1,000 through POST /v1/transactions/batch as fast as they are accepted, against
 * `aether replay` straight into the streams, each timed until everything it sent is stored.
 *
 * The load generator is a steady (open-model) schedule of its own on node:http, not autocannon:
 * autocannon's rate is a quota per connection per second (each connection sends its quota at the start
 * of a second, back to back, then waits for the next), so it offers bursts of `connections` requests
 * rather than the rate, and times each request from its write, so a request held up behind a slow one
 * is never counted late (coordinated omission). Here request i is due at t0 + i/rate whatever happened
 * to the ones before it, its latency counts from that due time, and the pool has sockets for a quarter
 * second of requests, so a slow answer never delays the next send.
 * --cpu-prof writes each gateway's CPU profile (node --cpu-prof) into DIR when it stops.
 * Not a test: figures depend on the machine and what else runs on it (the load average is printed).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { CompiledQuery } from 'kysely'
import pg from 'pg'
import { sampleQuantile } from '../src/main/ops/latency'
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
    gateways: { type: 'string', default: '1' },
    // Writes each gateway's CPU profile (node --cpu-prof) into this folder when it stops.
    'cpu-prof': { type: 'string' },
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
  /** HTTP: requests go to these in turn (gateways behind a round-robin balancer). */
  urls?: string[]
  path?: string
  key?: string
  /** The direct path instead: XADD with a reply field into these streams, the published decision awaited. */
  direct?: { redisUrl: string; layout: StreamLayout }
  seed: number
  /** Offered requests per second on a steady schedule; none: a closed loop, as fast as answered. */
  rate?: number
  seconds?: number
  /** Requests in all (instead of rate × seconds). */
  amount?: number
  /** Sockets at most (a schedule), or requests in flight (a closed loop). */
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
  /** How late the schedule sent a request at worst (ms): the generator's own lag, in the latencies too. */
  sendLagMs: number
  /** The generator's own CPU per request (ms): what it takes of the machine's cores from the servers. */
  cpuMsPerRequest: number
}

/** One request as the generator counts it; `final` undefined: decided by the latency (direct path). */
interface Answer {
  ok: boolean
  final?: boolean
  accepted: number
}

const FAILED: Answer = { ok: false, final: false, accepted: 0 }

/** Sends request i of the step (resolves with its answer, never rejects); close ends its connections. */
interface Sender {
  send(i: number): Promise<Answer>
  close(): Promise<void>
}

function httpSender(spec: LoadSpec): Sender {
  const traffic = generateTraffic({ seed: spec.seed })
  const total = spec.amount ?? Math.round((spec.rate ?? 0) * (spec.seconds ?? 0))
  // Made before the clock starts: the schedule's time goes to sending.
  const bodies = Array.from({ length: total }, () =>
    JSON.stringify(
      spec.batch === undefined
        ? traffic.next().value.txn
        : { transactions: Array.from({ length: spec.batch }, () => traffic.next().value.txn) },
    ),
  )
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections })
  const targets = (spec.urls ?? []).map((url) => new URL(url))
  const budgetMs = spec.budgetMs ?? Infinity
  const send = (i: number) =>
    new Promise<Answer>((resolve) => {
      const target = targets[i % targets.length] as URL
      const body = bodies[i] as string
      bodies[i] = ''
      const request = httpRequest(
        {
          agent,
          hostname: target.hostname,
          port: target.port,
          path: spec.path,
          method: 'POST',
          timeout: 10_000,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            ...(spec.key !== undefined ? { authorization: `Bearer ${spec.key}` } : {}),
          },
        },
        (response) => {
          let text = ''
          response.setEncoding('utf8')
          response.on('data', (chunk: string) => (text += chunk))
          response.on('error', () => resolve(FAILED))
          response.on('end', () => {
            const status = response.statusCode ?? 0
            resolve({
              ok: status >= 200 && status < 300,
              // Final within the budget: past it the gateway may still answer with the stored decision.
              final:
                status === 200 &&
                text.includes('"final":true') &&
                Number(/"latency_ms":([\d.]+)/.exec(text)?.[1] ?? Infinity) <= budgetMs,
              accepted: status === 202 ? Number(/"accepted":(\d+)/.exec(text)?.[1] ?? 0) : 0,
            })
          })
        },
      )
      request.on('timeout', () => request.destroy(new Error('timed out')))
      request.on('error', () => resolve(FAILED))
      request.end(body)
    })
  return { send, close: async () => agent.destroy() }
}

async function directSender(spec: LoadSpec & { direct: NonNullable<LoadSpec['direct']> }): Promise<Sender> {
  const { layout, redisUrl } = spec.direct
  const traffic = generateTraffic({ seed: spec.seed })
  const total = Math.round((spec.rate ?? 0) * (spec.seconds ?? 0))
  const txns = Array.from({ length: total }, () => traffic.next().value.txn)
  const redis = new Redis(redisUrl)
  const listener = new ReplyListener({ url: redisUrl }, replyChannel(layout, `bench-direct-${process.pid}`))
  await listener.start()
  const send = async (i: number): Promise<Answer> => {
    const txn = txns[i] as (typeof txns)[number]
    const waiter = listener.wait(txn.txn_id, 10_000)
    const fields = encodeTransaction(txn)
    fields.push(REPLY_FIELD, listener.channel)
    try {
      await redis.xadd(partitionStream(layout, partitionOf(txn.user_id, layout.partitions)), '*', ...fields)
    } catch {
      waiter.cancel()
      return FAILED
    }
    return (await waiter.promise) === undefined ? FAILED : { ok: true, accepted: 0 }
  }
  return {
    send,
    close: async () => {
      await listener.stop()
      redis.disconnect()
    },
  }
}

/**
 * The load generator's process. With a rate: request i is due at t0 + i/rate, sent then whatever the
 * answers before it, its latency counted from that due time. Without: `connections` requests in
 * flight, each sent as the one before it is answered (batches, as fast as they are accepted).
 */
async function runLoad(spec: LoadSpec): Promise<void> {
  const total = spec.amount ?? Math.round((spec.rate ?? 0) * (spec.seconds ?? 0))
  const { send, close } =
    spec.direct !== undefined ? await directSender({ ...spec, direct: spec.direct }) : httpSender(spec)
  const budgetMs = spec.budgetMs ?? Infinity
  const latencies: number[] = []
  let ok = 0
  let final = 0
  let accepted = 0
  let errors = 0
  let sendLagMs = 0
  let lastAnswer = 0
  const record = (dueAt: number, answer: Answer) => {
    lastAnswer = performance.now()
    const ms = lastAnswer - dueAt
    if (!answer.ok) return void errors++
    ok++
    latencies.push(ms)
    if (answer.final ?? ms <= budgetMs) final++
    accepted += answer.accepted
  }
  const cpuFrom = process.cpuUsage()
  const t0 = performance.now() + 10
  if (spec.rate !== undefined && total > 0) {
    const interval = 1000 / spec.rate
    let next = 0
    let answered = 0
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now()
        for (; next < total && t0 + next * interval <= now; next++) {
          const dueAt = t0 + next * interval
          sendLagMs = Math.max(sendLagMs, now - dueAt)
          void send(next).then((answer) => {
            record(dueAt, answer)
            if (++answered === total) resolve()
          })
        }
        if (next < total) setTimeout(tick, t0 + next * interval - performance.now())
      }
      setTimeout(tick, t0 - performance.now())
    })
  } else {
    let next = 0
    const loop = async () => {
      while (next < total) {
        const sentAt = performance.now()
        record(sentAt, await send(next++))
      }
    }
    await sleep(t0 - performance.now())
    await Promise.all(Array.from({ length: Math.min(spec.connections, total) }, loop))
  }
  const cpu = process.cpuUsage(cpuFrom)
  await close()
  const seconds = (lastAnswer - t0) / 1000
  const out: LoadResult = {
    offered: spec.rate ?? 0,
    achieved: (ok + errors) / seconds,
    p50: sampleQuantile(latencies, 0.5),
    p99: sampleQuantile(latencies, 0.99),
    ok,
    final,
    accepted,
    errors,
    seconds,
    sendLagMs,
    cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / Math.max(1, ok + errors),
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

/** CPU seconds the processes have used so far (Linux /proc, in clock ticks of 1/100 s; NaN elsewhere). */
function cpuSeconds(children: readonly ChildProcess[]): number {
  let ticks = 0
  for (const child of children) {
    try {
      // After "pid (name) ": the state, then utime and stime are the 12th and 13th fields.
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8')
        .replace(/^.*\) /s, '')
        .split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      return NaN
    }
  }
  return ticks / 100
}

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
  const gatewayCount = Number(args.gateways)
  if (
    rates.some((rate) => !Number.isInteger(rate) || rate < 1) ||
    !(seconds > 0) ||
    !(batchTx >= BATCH_SIZE) ||
    !Number.isInteger(gatewayCount) ||
    gatewayCount < 1
  )
    throw new Error('--rates are whole numbers (500,1000), --seconds > 0, --batch-tx ≥ 1000, --gateways ≥ 1')
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
    const profile = args['cpu-prof']
    const gateways = Array.from({ length: gatewayCount }, () =>
      start(
        [
          process.execPath,
          ...(profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`]),
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
      ),
    )
    const bare = start(
      [process.execPath, '--import', 'tsx', 'scripts/bench-gateway.ts', '--bare'],
      /bare at (\S+)/,
    )
    const [gatewayUrls, bareUrl] = await Promise.all([
      Promise.all(gateways.map((gateway) => gateway.ready)),
      bare.ready,
      worker.ready,
    ])
    for (const url of gatewayUrls)
      for (;;) {
        const ready = await fetch(`${url}/readyz`).catch(() => undefined)
        if (ready?.status === 200) break
        await sleep(200)
      }
    const direct = { redisUrl, layout }

    /** Lets the worker drain what a step left on the streams, so the next step starts even. */
    let expected = 0
    const settle = async (added: number) => {
      expected += added
      await storedReach(expected)
    }

    // A short warm-up of each path (JIT, connections, the worker's user state cache).
    process.stdout.write('Warming up… ')
    const warm = await load({
      urls: gatewayUrls,
      path: '/v1/transactions',
      key,
      rate: 200,
      seconds: 2,
      connections: 50,
    })
    await settle(warm.ok)
    await load({ urls: [bareUrl], path: '/bare', rate: 200, seconds: 2, connections: 50 })
    const warmDirect = await load({ direct, rate: 200, seconds: 2, connections: 50 })
    await settle(warmDirect.ok)
    console.log('done.')

    /** What a step cost the serving processes: CPU ms per answered request (the worker's until stored). */
    const gatewayChildren = gateways.map((gateway) => gateway.child)
    const cpuOf = (servers: ChildProcess[]) => {
      const from = { servers: cpuSeconds(servers), worker: cpuSeconds([worker.child]) }
      return (requests: number) => ({
        servers: ((cpuSeconds(servers) - from.servers) * 1000) / requests,
        worker: ((cpuSeconds([worker.child]) - from.worker) * 1000) / requests,
      })
    }
    const rows: { path: string; result: LoadResult; cpu: { servers: number; worker: number } }[] = []
    for (const rate of rates) {
      // Sockets for a quarter second of requests: a slow answer never holds up a due one.
      const connections = Math.max(100, Math.ceil(rate / 4))
      process.stdout.write(`${rate} req/s: bare… `)
      const bareCpu = cpuOf([bare.child])
      const br = await load({ urls: [bareUrl], path: '/bare', rate, seconds, connections })
      rows.push({ path: 'bare', result: br, cpu: { ...bareCpu(br.ok), worker: NaN } })
      process.stdout.write('gateway… ')
      const gatewayCpu = cpuOf(gatewayChildren)
      const gw = await load({
        urls: gatewayUrls,
        path: '/v1/transactions',
        key,
        rate,
        seconds,
        connections,
        budgetMs,
      })
      await settle(gw.ok)
      rows.push({ path: 'gateway', result: gw, cpu: gatewayCpu(gw.ok) })
      process.stdout.write('direct… ')
      const directCpu = cpuOf([])
      const dr = await load({ direct, rate, seconds, connections, budgetMs })
      await settle(dr.ok)
      rows.push({ path: 'direct', result: dr, cpu: { ...directCpu(dr.ok), servers: NaN } })
      console.log('done.')
    }

    // Batches as fast as they are accepted, timed from the first request to the last transaction stored.
    process.stdout.write(
      `Batch: ${batchTx.toLocaleString('en-US')} transactions in batches of ${BATCH_SIZE}… `,
    )
    const batchFrom = performance.now()
    const batch = await load({
      urls: gatewayUrls,
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
      `\nDecision API benchmark: ${seconds} s per step, budget ${budgetMs} ms, ${PARTITIONS} partitions, 1 worker, ${gatewayCount} gateway${gatewayCount > 1 ? 's (requests in turn)' : ''}, the load generator in its own process (a steady schedule, latency from each request's due time).`,
    )
    console.log(
      `Machine: ${cpus().length} cores, load average ${load0.map((l) => l.toFixed(1)).join(' ')} at the start, ${load1.map((l) => l.toFixed(1)).join(' ')} at the end; Node ${process.version}.\n`,
    )
    console.log(
      '| path    | offered req/s | achieved req/s | p50 ms | p99 ms | % final | errors | send lag ms | server CPU ms/req | worker CPU ms/req | generator CPU ms/req |',
    )
    console.log(
      '|---------|---------------|----------------|--------|--------|---------|--------|-------------|-------------------|-------------------|----------------------|',
    )
    const cpuMs = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-')
    for (const { path, result, cpu } of rows)
      console.log(
        `| ${path.padEnd(7)} | ${fmt(result.offered).padStart(13)} | ${fmt(result.achieved).padStart(14)} | ${ms(result.p50).padStart(6)} | ${ms(result.p99).padStart(6)} | ${(path === 'bare' ? '-' : pct(result.final, result.ok + result.errors)).padStart(7)} | ${String(result.errors).padStart(6)} | ${ms(result.sendLagMs).padStart(11)} | ${cpuMs(cpu.servers).padStart(17)} | ${cpuMs(cpu.worker).padStart(17)} | ${cpuMs(result.cpuMsPerRequest).padStart(20)} |`,
      )
    console.log(
      `\nBatch (POST /v1/transactions/batch, ${BATCH_SIZE} per request, 4 connections): ${fmt(batch.accepted)} accepted in ${batchAcceptedS.toFixed(1)} s (${fmt(batch.accepted / batchAcceptedS)} tx/s accepted), all stored after ${batchSeconds.toFixed(1)} s: ${fmt(batchTxS)} tx/s; ${batch.errors} errors.`,
    )
    console.log(
      `aether replay into the streams: ${fmt(batchTx)} stored after ${replaySeconds.toFixed(1)} s: ${fmt(replayTxS)} tx/s (process start included).`,
    )
    console.log(
      '% final: decisions answered final (stored, within the budget) over all requests; direct: replies within the budget. Send lag: how late the generator sent a request at worst (in the latencies too). CPU: of the bare endpoint or the gateways, and of the worker until all is stored, and of the generator itself, per answered request.',
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
