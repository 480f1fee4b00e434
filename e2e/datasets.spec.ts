import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from './fixtures'
import { DatasetsPage } from './pages/datasets-page'

const SAMPLE = 'resources/paysim-first-20k.csv'

/** What the sample holds, read without the app: the figures the screens must show. */
function sampleFacts() {
  const rows = readFileSync(SAMPLE, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(','))
  const amounts = rows.map((fields) => Number(fields[2]))
  const fraudByType = new Map<string, number>()
  for (const fields of rows)
    if (fields[9] === '1') fraudByType.set(fields[1] ?? '', (fraudByType.get(fields[1] ?? '') ?? 0) + 1)
  return { maxAmount: Math.max(...amounts), mostFraudInAType: Math.max(...fraudByType.values()) }
}

/** `aether backtest` on the same data folder: the UI must show the figures it prints. */
function printedBacktest(dataDir: string) {
  const run = spawnSync(process.execPath, ['bin/aether.js', 'backtest', SAMPLE, '--data-dir', dataDir], {
    encoding: 'utf8',
  })
  expect(run.status, run.stderr).toBe(0)
  const figure = (label: string) => new RegExp(`^\\s+${label}\\s+(\\S+)$`, 'm').exec(run.stdout)?.[1]
  return { precision: figure('precision'), recall: figure('recall') }
}

test.describe('offline investigation of a PaySim file', () => {
  let scratch: string

  test.beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'aether-e2e-datasets-'))
  })

  test.afterAll(async () => {
    await rm(scratch, { recursive: true, force: true })
  })

  test('a large file shows its progress and can be cancelled', async ({ shell, page }) => {
    // 50 copies of the sample (about a million rows): long enough to watch and to cancel.
    const [header, ...body] = readFileSync(SAMPLE, 'utf8').split('\n')
    const large = join(scratch, 'large-paysim.csv')
    await writeFile(large, `${header}\n`)
    for (let copy = 0; copy < 50; copy++) await appendFile(large, `${body.join('\n')}\n`)

    await shell.waitUntilReady()
    await shell.open('datasets')
    const datasets = new DatasetsPage(page)
    await datasets.openPath(large)
    await datasets.expectImport('running')
    await expect(page.getByTestId('import-percent')).not.toHaveText('0%', { timeout: 30_000 })
    await shell.screenshot('datasets-import-progress')
    await datasets.cancelImport()
    await datasets.expectImport('cancelled')
    await expect(page.getByTestId('dataset-large-paysim.csv')).toHaveCount(0)
  })

  test('in a browser, the path is typed: a dropped file says so', async ({ shell, page }) => {
    await shell.waitUntilReady()
    await shell.open('datasets')
    const datasets = new DatasetsPage(page)
    await expect(datasets.path).toBeVisible()
    // The file dialog and the drop zone come with the desktop app (e2e/electron.spec.ts).
    await expect(datasets.chooseFile).toHaveCount(0)
    await expect(datasets.dropZone).toHaveCount(0)
    await datasets.dropFile('paysim.csv', 'step,type\n')
    await expect(datasets.dropNote).toHaveText(
      'A browser does not tell the page where paysim.csv is: type its path in the field above.',
    )
    await expect(datasets.importStatus).toHaveCount(0)
  })

  test('open the sample, check it, explore it, query it, backtest rules and export', async ({
    shell,
    page,
    app,
  }) => {
    const facts = sampleFacts()
    const largest = facts.maxAmount.toLocaleString('en-US', { minimumFractionDigits: 2 })
    await shell.waitUntilReady()
    await shell.open('datasets')
    const datasets = new DatasetsPage(page)

    // Open: progress, then the quality report.
    await datasets.openSample()
    await datasets.expectImport('running')
    await datasets.expectImport('done')
    await expect(datasets.importStatus).toContainText('19,999 rows')
    await expect(page.getByTestId('quality-rows')).toContainText('19,999 rows imported, 81 labelled fraud')
    await expect(page.getByTestId('quality-rejects')).toContainText('Every line could be read')
    await shell.screenshot('datasets-quality')

    // The grid: sorted by amount in DuckDB, largest first.
    await datasets.tab('rows')
    await expect(datasets.gridCount).toHaveText('19,999 rows')
    await datasets.headerCell(datasets.grid, 'amount').click()
    await datasets.headerCell(datasets.grid, 'amount').click()
    await expect(datasets.cell(datasets.grid, 0, 'amount')).toContainText(largest)
    await shell.screenshot('datasets-grid')

    // Export what the grid shows to CSV.
    await datasets.exportCsv('sample by amount')
    await expect(page.getByTestId('export-result')).toContainText('Saved 19,999 rows')
    const exported = await readFile(join(app.dataDir, 'datasets', 'exports', 'sample by amount.csv'), 'utf8')
    const lines = exported.trim().split('\n')
    expect(lines).toHaveLength(20_000)
    expect(lines[0]).toMatch(/^txn_id,ts,user_id,counterparty_id,type,amount,/)
    expect(lines[1]).toContain(`,${facts.maxAmount.toFixed(2)},`)

    // Analyses, and a drill from a chain into the grid.
    await datasets.tab('analyses')
    for (const chart of [
      'fraud-by-type',
      'amount-distribution',
      'volume-by-step',
      'balance-drain',
      'mule-accounts',
    ])
      await expect(page.getByTestId(`chart-${chart}`)).toBeVisible()
    await expect(page.getByTestId('chains-table')).toBeVisible()
    await shell.screenshot('datasets-analyses')
    await page.getByTestId('chains-table').getByRole('button').first().click()
    await expect(page.getByTestId(`dataset-tab-rows`)).toHaveAttribute('aria-selected', 'true')
    await expect(datasets.gridCount).toHaveText('2 rows')

    // SQL: a query whose result pages through the grid; an error points at its place.
    await datasets.tab('sql')
    await datasets.runSql(
      'SELECT type, count(*) AS transactions, count(*) FILTER (label) AS fraud\nFROM transactions\nGROUP BY type ORDER BY fraud DESC',
    )
    await expect(page.getByTestId('sql-summary')).toContainText('5 rows')
    const sqlGrid = page.getByTestId('sql-result')
    await expect(datasets.cell(sqlGrid, 0, 'fraud')).toHaveText(String(facts.mostFraudInAType))
    await shell.screenshot('datasets-sql')
    await datasets.runSql("SELECT * FROM read_csv('/etc/passwd')")
    await expect(page.getByTestId('sql-error')).toContainText('Permission Error')

    // A statement that would run for hours: its progress shows, a second one waits, Cancel stops it.
    await datasets.runSql(
      'SELECT count(*) FROM transactions a, transactions b, transactions c\nWHERE a.amount < b.amount + c.amount',
    )
    await expect(datasets.sqlProgress).toHaveAttribute('data-state', 'running')
    await expect(page.getByTestId('sql-progress-percent')).toHaveText(
      /^(\d+%|every row read, still working)$/,
    )
    await expect(page.getByTestId('sql-progress-elapsed')).toHaveText(/so far$/)
    await expect(page.getByTestId('sql-run')).toBeDisabled()
    await page.getByTestId('sql-editor').press('Control+Enter')
    await expect(page.getByTestId('sql-refused')).toContainText('A statement is running')
    await shell.screenshot('datasets-sql-progress')
    await datasets.cancelRun(datasets.sqlProgress)
    await expect(datasets.sqlProgress).toContainText('Cancelled after')
    await datasets.runSql('SELECT * FROM transactions WHERE label')
    await expect(page.getByTestId('sql-summary')).toContainText('81 rows')

    // Backtest: the built-in rules against a copy without balance_drain.
    await datasets.tab('backtest')
    await page.getByTestId('rule-enabled-balance_drain').uncheck()
    await page.getByTestId('backtest-run').click()
    await expect(page.getByTestId('backtest-results')).toBeVisible({ timeout: 60_000 })
    const printed = printedBacktest(app.dataDir)
    await expect(page.getByTestId('backtest-precision-0')).toHaveText(printed.precision ?? 'missing')
    await expect(page.getByTestId('backtest-recall-0')).toHaveText(printed.recall ?? 'missing')
    // The shot shows the chart whole, with the two versions' rules above it.
    await page
      .getByTestId('chart-alerts-over-time')
      .evaluate((chart) => chart.scrollIntoView({ block: 'end' }))
    await shell.screenshot('datasets-backtest')
  })
})
