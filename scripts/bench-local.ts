/**
 * npm run bench:local [-- --seconds 30 --rounds 1]
 *
 * Local mode's main thread while the bundled sample replays (50 tx/s) and an analyst pages the
 * Transactions grid (a page of 100 every 200 ms, newest first then by amount, walked by keyset): the
 * main-thread event-loop delay p99 (perf_hooks.monitorEventLoopDelay), and the process's RSS once idle
 * (replay paused, no paging, after a GC). Measured for the store on its own thread (today) and for the
 * reference, PGlite on the main thread at its default memory (the earlier build), each in a child process
 * of its own on a fresh folder, in the same run. Not a test: the machine may be shared (the load average is
 * printed). Prints its progress every 10 s while a run goes on; ends with one summary line.
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { PGlite } from '@electric-sql/pglite'
import { sampleQuantile } from '../src/main/ops/latency'
import { PipelineHost } from '../src/main/pipeline/embedded'
import { migrateToLatest } from '../src/main/store/migrate'
import { PGLITE_PARSERS } from '../src/main/store/pglite'
import { openEmbeddedStore, pgliteInPlace, type Store } from '../src/main/store/store'
import { transactionPage } from '../src/main/triage/transactions'
import type { TransactionCursor, TransactionSort } from '../src/shared/triage-contract'

const GOAL_DELAY_P99_MS = 20
const GOAL_IDLE_RSS_MB = 400
const PAGE_EVERY_MS = 200
const SCRIPT = fileURLToPath(import.meta.url)

type Kind = 'thread' | 'reference'

interface Figures {
  delayP99Ms: number
  delayMaxMs: number
  pages: number
  pageP95Ms: number
  stored: number
  idleRssMb: number
  peakRssMb: number
}

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '1' },
    child: { type: 'string' },
    dir: { type: 'string' },
  },
})

const mb = (bytes: number) => bytes / 1024 / 1024

/** The earlier build: PGlite opened on the main thread at its default memory. */
const openReference = async (dir: string): Promise<Store> =>
  pgliteInPlace(await PGlite.create(dir, { parsers: PGLITE_PARSERS }))

/** Child process: Local mode as the workstation opens it, minus the window. */
async function measure(kind: Kind, dir: string, seconds: number): Promise<Figures> {
  await mkdir(dir, { recursive: true })
  const store = kind === 'thread' ? await openEmbeddedStore(dir) : await openReference(dir)
  await migrateToLatest(store)
  const pipeline = new PipelineHost(() => {})
  await pipeline.switchTo({ mode: 'local', store })
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const pageTimes: number[] = []
  const sorts: TransactionSort[] = [
    { column: 'ts', direction: 'desc' },
    { column: 'amount', direction: 'desc' },
  ]
  let after: TransactionCursor | undefined
  let sort = 0
  const until = performance.now() + seconds * 1000
  while (performance.now() < until) {
    const started = performance.now()
    const page = await transactionPage(store.db, {
      filter: {},
      sort: sorts[sort % sorts.length] ?? { column: 'ts', direction: 'desc' },
      offset: 0,
      limit: 100,
      ...(after ? { after } : {}),
    })
    pageTimes.push(performance.now() - started)
    // Walk down by keyset; at the end, start over in the other order.
    after = page.next ?? undefined
    if (page.next === null) sort++
    await sleep(PAGE_EVERY_MS)
  }
  delay.disable()
  const status = await pipeline.pause()
  await sleep(5000)
  globalThis.gc?.()
  await sleep(1000)
  const idleRssMb = mb(process.memoryUsage().rss)
  await pipeline.stop()
  await store.close()
  return {
    delayP99Ms: delay.percentile(99) / 1e6,
    delayMaxMs: delay.max / 1e6,
    pages: pageTimes.length,
    pageP95Ms: sampleQuantile(pageTimes, 0.95),
    stored: status.counts.stored,
    idleRssMb,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  }
}

async function inChild(kind: Kind, dir: string, seconds: number): Promise<Figures> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', SCRIPT, `--child=${kind}`, `--dir=${dir}`, `--seconds=${seconds}`],
    { env: { ...process.env, AETHER_SAMPLE_REPLAY: 'on' }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-64_000)))
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', resolve)
  })
  if (code !== 0) throw new Error(`The ${kind} run failed:\n${stderr}`)
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Figures
}

/** A run's length besides its measured seconds: the child's start, the store, 6 s idle before the RSS. */
const RUN_OVERHEAD_S = 12
const PROGRESS_EVERY_MS = 10_000

/** The machine may be shared: its load beside the figures says how far to trust them. */
const load = () =>
  `load average ${loadavg()
    .map((value) => value.toFixed(1))
    .join(' / ')} on ${availableParallelism()} cores`

const fixed = (value: number, digits = 1) => value.toFixed(digits).padStart(8)

async function main() {
  const seconds = Number(args.seconds)
  const rounds = Number(args.rounds)
  if (!(seconds >= 5) || !Number.isInteger(rounds) || rounds < 1)
    throw new Error('--seconds takes at least 5, --rounds a whole number of at least 1')
  console.log(`Started with ${load()}`)
  console.log(
    `Each run: a fresh Local store, the sample replaying at 50 tx/s and a grid page of 100 every ${PAGE_EVERY_MS} ms for ${seconds} s; idle RSS 6 s after pausing`,
  )
  const folder = await mkdtemp(join(tmpdir(), 'aether-bench-local-'))
  const runs: { kind: Kind; figures: Figures }[] = []
  const total = rounds * 2
  const began = performance.now()
  let expectedSeconds = seconds + RUN_OVERHEAD_S
  const elapsed = () => `${Math.round((performance.now() - began) / 1000)} s`
  try {
    for (let round = 0; round < rounds; round++)
      for (const kind of ['reference', 'thread'] as const) {
        const dir = join(folder, `${kind}-${round}`)
        const runStarted = performance.now()
        // The percent is an estimate while a run goes on (the last run's length, at first the expected
        // one), exact between runs.
        const progress = setInterval(() => {
          const share = Math.min(0.95, (performance.now() - runStarted) / 1000 / expectedSeconds)
          console.log(
            `  … ${Math.floor(((runs.length + share) / total) * 100)}%, ${elapsed()} elapsed (run ${runs.length + 1} of ${total}: ${kind})`,
          )
        }, PROGRESS_EVERY_MS)
        try {
          runs.push({ kind, figures: await inChild(kind, dir, seconds) })
        } finally {
          clearInterval(progress)
        }
        expectedSeconds = (performance.now() - runStarted) / 1000
        console.log(
          `  ${Math.round((runs.length / total) * 100)}%, ${elapsed()} elapsed: run ${runs.length} of ${total} (${kind}) done`,
        )
        await rm(dir, { recursive: true, force: true })
      }
  } finally {
    await rm(folder, { recursive: true, force: true })
  }
  console.log(
    `\n${'run'.padEnd(44)}${'delay p99'.padStart(10)}${'max'.padStart(9)}${'pages'.padStart(7)}${'page p95'.padStart(10)}${'stored'.padStart(8)}${'idle RSS'.padStart(10)}${'peak RSS'.padStart(10)}`,
  )
  for (const { kind, figures } of runs)
    console.log(
      `${(kind === 'thread' ? 'store on its own thread, memory sized' : 'reference: PGlite on main, defaults').padEnd(44)}${fixed(figures.delayP99Ms)} ms${fixed(figures.delayMaxMs, 0)}${String(figures.pages).padStart(7)}${fixed(figures.pageP95Ms)} ms${String(figures.stored).padStart(8)}${fixed(figures.idleRssMb, 0)} MB${fixed(figures.peakRssMb, 0)} MB`,
    )
  const worst = (kind: Kind, pick: (figures: Figures) => number) =>
    Math.max(...runs.filter((run) => run.kind === kind).map((run) => pick(run.figures)))
  const delay = worst('thread', (figures) => figures.delayP99Ms)
  const idle = worst('thread', (figures) => figures.idleRssMb)
  console.log(
    `\nGoals: delay p99 ≤ ${GOAL_DELAY_P99_MS} ms ${delay <= GOAL_DELAY_P99_MS ? 'met' : 'MISSED'}, idle RSS ≤ ${GOAL_IDLE_RSS_MB} MB ${idle <= GOAL_IDLE_RSS_MB ? 'met' : 'MISSED'} (worst run of the thread store)`,
  )
  console.log(`Finished with ${load()}`)
  console.log(
    `bench:local: delay_p99_ms=${delay.toFixed(1)} reference_delay_p99_ms=${worst('reference', (f) => f.delayP99Ms).toFixed(1)} idle_rss_mb=${idle.toFixed(0)} reference_idle_rss_mb=${worst('reference', (f) => f.idleRssMb).toFixed(0)}`,
  )
}

if (args.child === 'thread' || args.child === 'reference')
  console.log(JSON.stringify(await measure(args.child, args.dir ?? '', Number(args.seconds))))
else await main()
