/**
 * Offline investigations at PaySim's full size, with the reference measured in the same run:
 *   npm run bench:paysim [-- rows=6362620]
 *
 * 1. Generates a PaySim-shaped CSV (deterministic: DuckDB's hash of the row number) in a temp folder.
 * 2. Imports it twice each way, alternating, each in a child process of its own so its peak RSS is its own:
 *    - raw: CREATE TABLE AS SELECT * FROM read_csv(file) through the same binding (@duckdb/node-api);
 *    - ours: DatasetsService.open, as the app does it (worker thread, typed PaySim columns, lines set aside
 *      with their numbers, transactions view), timed to the rows being ready and to the quality report.
 * 3. Times each canned analysis, a sorted and filtered grid page, and a full backtest of DEFAULT_RULES.
 * 4. Times a sorted grid's jump to row 1,000,000 (a dragged scrollbar): by the sort's order, built after the
 *    first page, against ORDER BY … OFFSET in the same run.
 * The files are deleted at the end. Figures are printed, never asserted: the machine is shared.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { chainLinksQuery, fraudRecipientsQuery } from '../src/main/analysis/analyses'
import { repeatUsersQuery } from '../src/main/analysis/backtest'
import { DatasetsService } from '../src/main/analysis/datasets-service'
import { ANALYSES, type BacktestResult, type RowsRequest } from '../src/shared/datasets-contract'
import { DEFAULT_RULES } from '../src/shared/rules'

const FULL_SIZE = 6_362_620
const SCRIPT = fileURLToPath(import.meta.url)

interface ImportFigures {
  readySeconds: number
  totalSeconds: number
  peakRssMb: number
}

/**
 * A PaySim-shaped file: 743 hourly steps, PaySim's mix of types, fraud as TRANSFER + CASH_OUT pairs. Rows come
 * out in row-number order without a sort: DuckDB keeps insertion order.
 */
async function generate(path: string, rows: number): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:')
  const connection = await instance.connect()
  await connection.run(`COPY (
    WITH base AS (
      SELECT i, hash(i) AS h, hash(i * 7919 + 13) AS g,
        1 + (i * 743) // ${rows} AS step,
        i % 1549 = 0 AND i + 1 < ${rows} AS fraud_transfer,
        i % 1549 = 1 AS fraud_cash_out
      FROM range(${rows}) AS r(i)
    ), typed AS (
      SELECT *,
        CASE WHEN fraud_transfer THEN 'TRANSFER' WHEN fraud_cash_out THEN 'CASH_OUT'
          WHEN h % 1000 < 352 THEN 'CASH_OUT' WHEN h % 1000 < 690 THEN 'PAYMENT'
          WHEN h % 1000 < 910 THEN 'CASH_IN' WHEN h % 1000 < 994 THEN 'TRANSFER' ELSE 'DEBIT' END AS type,
        round(exp(2 + (CASE WHEN fraud_cash_out THEN hash(i - 1) ELSE h END % 100000) / 100000.0 * 12), 2) AS amount,
        (g % 50000000) / 100.0 AS balance
      FROM base
    )
    SELECT step, type, amount,
      'C' || (h % 2000000000) AS nameOrig,
      CASE WHEN fraud_transfer OR fraud_cash_out THEN amount ELSE balance END AS oldbalanceOrg,
      CASE WHEN fraud_transfer OR fraud_cash_out THEN 0
        WHEN type = 'CASH_IN' THEN balance + amount ELSE greatest(balance - amount, 0) END AS newbalanceOrig,
      CASE WHEN type = 'PAYMENT' THEN 'M' ELSE 'C' END || ((g // 7) % 2000000000) AS nameDest,
      CASE WHEN type = 'PAYMENT' THEN 0 ELSE ((g // 11) % 100000000) / 100.0 END AS oldbalanceDest,
      CASE WHEN type = 'PAYMENT' THEN 0 WHEN fraud_transfer THEN ((g // 11) % 100000000) / 100.0
        ELSE ((g // 11) % 100000000) / 100.0 + amount END AS newbalanceDest,
      CAST(fraud_transfer OR fraud_cash_out AS INTEGER) AS isFraud,
      CAST(fraud_transfer AND amount > 200000 AS INTEGER) AS isFlaggedFraud
    FROM typed
  ) TO '${path}' (HEADER, DELIMITER ',')`)
  connection.closeSync()
  instance.closeSync()
}

/** Child process: the raw reference, read_csv into a table of a new database file. */
async function rawImport(file: string, database: string): Promise<ImportFigures> {
  const started = performance.now()
  const instance = await DuckDBInstance.create(database)
  const connection = await instance.connect()
  await connection.run(`CREATE TABLE t AS SELECT * FROM read_csv('${file}')`)
  const seconds = (performance.now() - started) / 1000
  connection.closeSync()
  instance.closeSync()
  return { readySeconds: seconds, totalSeconds: seconds, peakRssMb: process.resourceUsage().maxRSS / 1024 }
}

/** Child process: our import, through the service the app uses. */
async function ourImport(file: string, folder: string): Promise<ImportFigures> {
  const started = performance.now()
  const datasets = new DatasetsService({ dir: folder, samplePath: null })
  let readySeconds = 0
  for await (const event of datasets.open({ path: file })) {
    if (event.type === 'progress' && event.phase === 'checking' && readySeconds === 0)
      readySeconds = (performance.now() - started) / 1000
    if (event.type === 'failed') throw new Error(event.message)
  }
  const totalSeconds = (performance.now() - started) / 1000
  await datasets.close()
  return { readySeconds, totalSeconds, peakRssMb: process.resourceUsage().maxRSS / 1024 }
}

function inChild(kind: 'raw' | 'ours', file: string, target: string): ImportFigures {
  const child = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, `--child=${kind}`, file, target], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  })
  if (child.status !== 0) throw new Error(`The ${kind} import failed:\n${child.stderr}`)
  const line = child.stdout.trim().split('\n').at(-1) ?? ''
  return JSON.parse(line) as ImportFigures
}

const seconds = (value: number) => `${value.toFixed(2)} s`
const ms = (value: number) => `${Math.round(value)} ms`.padStart(8)
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN

async function timeIt<T>(times: number, run: () => Promise<T>): Promise<{ first: number; median: number }> {
  const took: number[] = []
  for (let attempt = 0; attempt < times; attempt++) {
    const started = performance.now()
    await run()
    took.push(performance.now() - started)
  }
  return { first: took[0] ?? NaN, median: median(took) }
}

/** The machine may be shared: its load beside the figures says how far to trust them. */
const load = () =>
  `load average ${loadavg()
    .map((value) => value.toFixed(1))
    .join(' / ')} on ${availableParallelism()} cores`

async function main() {
  console.log(`Started with ${load()}`)
  const rows = Number(
    process.argv.find((arg) => /^\d+$/.test(arg.replaceAll('_', '')))?.replaceAll('_', '') ?? FULL_SIZE,
  )
  const folder = await mkdtemp(join(tmpdir(), 'aether-bench-paysim-'))
  /** The closing `bench:paysim:` line: each figure beside its reference from this run. */
  const summary: string[] = [`rows=${rows}`]
  const whole = (value: number) => String(Math.round(value))
  try {
    const file = join(folder, 'paysim-shaped.csv')
    let started = performance.now()
    await generate(file, rows)
    const bytes = (await stat(file)).size
    console.log(
      `Generated ${rows.toLocaleString('en-US')} PaySim-shaped rows (${(bytes / 1e6).toFixed(0)} MB) in ${seconds((performance.now() - started) / 1000)}`,
    )

    console.log('\nImport (each run in its own process; raw and ours alternate)')
    const raw: ImportFigures[] = []
    const ours: ImportFigures[] = []
    for (let round = 0; round < 2; round++) {
      raw.push(inChild('raw', file, join(folder, `raw-${round}.duckdb`)))
      await rm(join(folder, `raw-${round}.duckdb`), { force: true })
      ours.push(inChild('ours', file, join(folder, `ours-${round}`)))
      await rm(join(folder, `ours-${round}`), { recursive: true, force: true })
    }
    for (const [index, run] of raw.entries())
      console.log(
        `  raw read_csv → table, run ${index + 1}: ${seconds(run.totalSeconds)}, peak RSS ${run.peakRssMb.toFixed(0)} MB`,
      )
    for (const [index, run] of ours.entries())
      console.log(
        `  ours, run ${index + 1}: rows ready in ${seconds(run.readySeconds)}, with the quality report ${seconds(run.totalSeconds)}, peak RSS ${run.peakRssMb.toFixed(0)} MB`,
      )
    const bestRaw = Math.min(...raw.map((run) => run.totalSeconds))
    const bestReady = Math.min(...ours.map((run) => run.readySeconds))
    const bestTotal = Math.min(...ours.map((run) => run.totalSeconds))
    const rawPeak = Math.min(...raw.map((run) => run.peakRssMb))
    const oursPeak = Math.max(...ours.map((run) => run.peakRssMb))
    console.log(
      `  best of each: ours/raw = ${(bestReady / bestRaw).toFixed(2)}× to the rows, ${(bestTotal / bestRaw).toFixed(2)}× with the quality report (goal ≤ 1.15×)`,
    )
    console.log(
      `  peak RSS, ours at most / raw at least: ${oursPeak.toFixed(0)} / ${rawPeak.toFixed(0)} MB = ${(oursPeak / rawPeak).toFixed(2)}× (goal ≤ 1.2×)`,
    )
    summary.push(
      `import_ready_s=${bestReady.toFixed(2)} import_total_s=${bestTotal.toFixed(2)} raw_s=${bestRaw.toFixed(2)} ready_of_raw=${(bestReady / bestRaw).toFixed(2)} total_of_raw=${(bestTotal / bestRaw).toFixed(2)} peak_rss_mb=${whole(oursPeak)} raw_peak_rss_mb=${whole(rawPeak)} peak_rss_of_raw=${(oursPeak / rawPeak).toFixed(2)}`,
    )

    const datasets = new DatasetsService({ dir: join(folder, 'datasets'), samplePath: null })
    let unordered: DatasetsService | undefined
    try {
      started = performance.now()
      let datasetId = ''
      for await (const event of datasets.open({ path: file }))
        if (event.type === 'ready') datasetId = event.dataset.id
      console.log(
        `  (imported once more for the queries below: ${seconds((performance.now() - started) / 1000)})`,
      )
      // The grid pages as they are read before a sort's order is built: by OFFSET, or on from the previous
      // page's end. Opened on the imported dataset, whose catalog it reads.
      const reference = new DatasetsService({
        dir: join(folder, 'datasets'),
        samplePath: null,
        sortedOrders: false,
      })
      unordered = reference

      console.log('\nCanned analyses (goal ≤ 300 ms each): first run, then the median of 5')
      let slowestAnalysis = 0
      for (const analysis of ANALYSES) {
        const figure = await timeIt(5, () => datasets.analysis(datasetId, analysis))
        console.log(`  ${analysis.padEnd(26)}${ms(figure.first)}${ms(figure.median)}`)
        slowestAnalysis = Math.max(slowestAnalysis, figure.median)
      }
      const recipients = await timeIt(3, () =>
        datasets.sql(datasetId, `SELECT count(*) FROM (${fraudRecipientsQuery()})`),
      )
      console.log(
        `  (mules read the fraud recipients found once at import, in its quality phase: finding them afresh takes${ms(recipients.first)}${ms(recipients.median)})`,
      )
      const linking = await timeIt(3, () =>
        datasets.sql(datasetId, `SELECT count(*) FROM (${chainLinksQuery()})`),
      )
      console.log(
        `  (the chains read links found once at import, in its quality phase: finding them afresh takes${ms(linking.first)}${ms(linking.median)})`,
      )
      summary.push(
        `analysis_max_ms=${whole(slowestAnalysis)} mules_afresh_ms=${whole(recipients.median)} chains_afresh_ms=${whole(linking.median)}`,
      )

      console.log('\nGrid pages of 100 rows (goal ≤ 150 ms for sorted + filtered): first, median of 5')
      const pages: [string, RowsRequest][] = [
        [
          'TRANSFER > 100,000 by amount ↓, with count',
          {
            datasetId,
            source: { kind: 'dataset' },
            startRow: 0,
            endRow: 100,
            withCount: true,
            sort: [{ colId: 'amount', sort: 'desc' }],
            filter: {
              type: { filterType: 'text', type: 'equals', filter: 'TRANSFER' },
              amount: { filterType: 'number', type: 'greaterThan', filter: 100_000 },
            },
          },
        ],
        [
          'file order, rows 3,000,000–3,000,100',
          {
            datasetId,
            source: { kind: 'dataset' },
            startRow: 3_000_000,
            endRow: 3_000_100,
            sort: [],
            filter: {},
          },
        ],
        [
          'all rows by amount ↓, rows 1,000,000–1,000,100',
          {
            datasetId,
            source: { kind: 'dataset' },
            startRow: 1_000_000,
            endRow: 1_000_100,
            sort: [{ colId: 'amount', sort: 'desc' }],
            filter: {},
          },
        ],
      ]
      const pageMedians: number[] = []
      for (const [label, request] of pages) {
        const figure = await timeIt(5, () => reference.rows(request))
        console.log(`  ${label.padEnd(48)}${ms(figure.first)}${ms(figure.median)}`)
        pageMedians.push(figure.median)
      }
      // Scrolling on from the deep page above: each page is read after the last row of the one before.
      let next = 1_000_100
      const scrolling = await timeIt(5, async () => {
        const [, , deep] = pages
        if (deep) await reference.rows({ ...deep[1], startRow: next, endRow: next + 100 })
        next += 100
      })
      console.log(
        `  ${'… scrolling on: each next page of 100'.padEnd(48)}${ms(scrolling.first)}${ms(scrolling.median)}`,
      )
      summary.push(
        `filtered_page_ms=${whole(pageMedians[0] ?? NaN)} scroll_page_ms=${whole(scrolling.median)} deep_page_offset_ms=${whole(pageMedians[2] ?? NaN)}`,
      )

      console.log(
        '\nSorted grid by amount ↓, jump to rows 1,000,000–1,000,100 (goal ≤ 150 ms): the OFFSET reference, median of 3; ours by the sort’s order',
      )
      const sortedAt = (startRow: number): RowsRequest => ({
        datasetId,
        source: { kind: 'dataset' },
        startRow,
        endRow: startRow + 100,
        withCount: true,
        sort: [{ colId: 'amount', sort: 'desc' }],
        filter: {},
      })
      const offsetJump = await timeIt(3, () => reference.rows({ ...sortedAt(1_000_000), withCount: false }))
      console.log(
        `  ${'reference: ORDER BY … OFFSET 1000000'.padEnd(48)}${ms(offsetJump.first)}${ms(offsetJump.median)}`,
      )
      started = performance.now()
      await datasets.rows(sortedAt(0))
      const firstPage = performance.now() - started
      started = performance.now()
      const built = await datasets.sortedOrderBuilt(sortedAt(0))
      const building = performance.now() - started
      console.log(
        `  ${'first page (its order is built after it)'.padEnd(48)}${ms(firstPage)}\n  ${`order built ${built ? '' : '(NOT built) '}in the background, after it`.padEnd(48)}${ms(building)}`,
      )
      // Each jump to row 1,000,000 comes from elsewhere, as a dragged scrollbar's would.
      const jumps: number[] = []
      for (const elsewhere of [5_000_000, 0, 3_000_000, 6_000_000, 200_000, 4_000_000, 2_000_000]) {
        await datasets.rows({ ...sortedAt(elsewhere), withCount: false })
        started = performance.now()
        await datasets.rows({ ...sortedAt(1_000_000), withCount: false })
        jumps.push(performance.now() - started)
      }
      const jumpP50 = median(jumps)
      const jumpMax = Math.max(...jumps)
      console.log(
        `  ${`ours: jump to row 1,000,000, p50 / max of ${jumps.length}`.padEnd(48)}${ms(jumpP50)}${ms(jumpMax)}   (${(offsetJump.median / jumpP50).toFixed(0)}× faster than OFFSET)`,
      )
      summary.push(
        `sorted_jump_ms=${whole(jumpP50)} sorted_jump_max_ms=${whole(jumpMax)} sorted_jump_offset_ms=${whole(offsetJump.median)} sorted_order_build_ms=${whole(building)}`,
      )

      console.log('\nBacktest of DEFAULT_RULES over every row (goal ≤ 3 s): first, median of 3')
      let result: BacktestResult[] = []
      const figure = await timeIt(3, async () => {
        result = await datasets.backtest({ datasetId, ruleSets: [DEFAULT_RULES] })
      })
      console.log(`  backtest${ms(figure.first)}${ms(figure.median)}`)
      const finding = await timeIt(3, () =>
        datasets.sql(datasetId, `SELECT count(*) FROM (${repeatUsersQuery()})`),
      )
      console.log(
        `  (the backtest reads the users who pay more than once, found once at import in its quality phase: finding them afresh takes${ms(finding.first)}${ms(finding.median)})`,
      )
      summary.push(`backtest_ms=${whole(figure.median)} repeat_users_afresh_ms=${whole(finding.median)}`)
      const [first] = result
      if (first)
        console.log(
          `  (${first.rows.toLocaleString('en-US')} rows: precision ${((first.precision ?? 0) * 100).toFixed(1)}%, recall ${((first.recall ?? 0) * 100).toFixed(1)}%)`,
        )
    } finally {
      await datasets.close()
      await unordered?.close()
    }
    console.log(`\nFinished with ${load()}`)
    console.log(`bench:paysim: ${summary.join(' ')}`)
  } finally {
    await rm(folder, { recursive: true, force: true })
  }
}

const child = process.argv.find((arg) => arg.startsWith('--child='))?.slice('--child='.length)
if (child === 'raw' || child === 'ours') {
  const [file, target] = process.argv.slice(process.argv.indexOf(`--child=${child}`) + 1)
  const figures =
    child === 'raw' ? await rawImport(file ?? '', target ?? '') : await ourImport(file ?? '', target ?? '')
  console.log(JSON.stringify(figures))
} else await main()
