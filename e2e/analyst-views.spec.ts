import { spawn, type ChildProcess } from 'node:child_process'
import type { Page } from '@playwright/test'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { sql } from 'kysely'
import pg from 'pg'
import { DEFAULT_PARTITIONS, DEFAULT_PREFIX, partitionStream } from '../src/main/pipeline/partitioning'
import { migrateToLatest } from '../src/main/store/migrate'
import { openPostgresStore, type Store } from '../src/main/store/store'
import { startPrivateRedis, type PrivateRedis } from '../test/support/private-servers'
import { createTestDatabase, type TestDatabase } from '../test/support/services'
import { addTeamAnalyst, signInToTeam } from './team'
import { expect, test, type ServedApp } from './fixtures'
import { DashboardPage } from './pages/dashboard-page'
import { DatasetsPage } from './pages/datasets-page'
import { TransactionsPage } from './pages/transactions-page'

/**
 * Issue 14's views, one check each: one time policy and a live Local first start (3), the whole team's
 * pipeline in Pipeline health (5), dashboard charts readable at every range (7), the quality report's
 * figures (8); and the smaller ones: the backtest's hourly buckets, a dead letter's whole message, every
 * other page's times in the one format with the zone.
 */

/** The zone's short name as the page shows it ("UTC", "CET"). */
const zoneOf = (page: Page) =>
  page.evaluate(
    () =>
      new Intl.DateTimeFormat('en-GB', { timeZoneName: 'short' })
        .formatToParts(new Date())
        .find((part) => part.type === 'timeZoneName')?.value ?? '',
  )
const ZONED = (zone: string) =>
  new RegExp(`\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2} ${zone.replace(/[+]/g, '\\+')}`)

/** "2026-12-06 14:03:27", the one time format, read back as an instant (the browser's zone is ours). */
const TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/
function instantOf(text: string): number {
  const match = TIME.exec(text.trim())
  expect(match, `"${text}" is not in the one time format`).not.toBeNull()
  const [, y, mo, d, h, mi, s] = (match ?? []).map(Number)
  return new Date(y as number, (mo as number) - 1, d, h, mi, s).getTime()
}

/** Every <text> of a chart's SVG that shows something, with its box. */
async function chartTexts(page: Page, testId: string) {
  return page.getByTestId(testId).evaluate((chart) => {
    const box = chart.getBoundingClientRect()
    const texts = [...chart.querySelectorAll('svg text')]
      .filter((text) => (text.textContent ?? '').trim() !== '' && text.getAttribute('opacity') !== '0')
      .map((text) => {
        const r = text.getBoundingClientRect()
        return { text: text.textContent ?? '', left: r.left, right: r.right, top: r.top, bottom: r.bottom }
      })
      .filter((r) => r.right > r.left && r.bottom > r.top)
    return { box: { left: box.left, right: box.right, top: box.top, bottom: box.bottom }, texts }
  })
}

/** No label runs into another, and none is cut at the chart's edge. */
async function expectReadable(page: Page, testId: string) {
  const { box, texts } = await chartTexts(page, testId)
  expect(texts.length, `${testId} shows labels`).toBeGreaterThan(0)
  for (const t of texts) {
    expect(t.left, `"${t.text}" cut at the left of ${testId}`).toBeGreaterThanOrEqual(box.left - 1)
    expect(t.right, `"${t.text}" cut at the right of ${testId}`).toBeLessThanOrEqual(box.right + 1)
    expect(t.top, `"${t.text}" cut at the top of ${testId}`).toBeGreaterThanOrEqual(box.top - 1)
    expect(t.bottom, `"${t.text}" cut at the bottom of ${testId}`).toBeLessThanOrEqual(box.bottom + 1)
  }
  for (const [i, a] of texts.entries())
    for (const b of texts.slice(i + 1)) {
      const overlap =
        Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
        Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1
      expect(overlap, `"${a.text}" and "${b.text}" overlap in ${testId}`).toBe(false)
    }
  return texts.map((t) => t.text)
}

test.describe('Local mode', () => {
  test.describe.configure({ timeout: 180_000 })

  test('item 3: the first start is live — event times of now, one time format with its zone, fresh cases', async ({
    shell,
    page,
  }) => {
    const opened = Date.now()
    await shell.waitUntilReady()
    const transactions = new TransactionsPage(page)
    await shell.open('transactions')
    // The column says which time it is, and in which zone.
    await expect(transactions.grid.locator('.ag-header-cell[col-id="ts"]')).toContainText(/Event time \(.+\)/)
    const firstTime = transactions.rows().first().locator('[col-id="ts"]')
    await expect(firstTime).toHaveText(TIME, { timeout: 60_000 })
    // The sample's rows are placed in real time: its first hour just before the start, the rest from now
    // on; never PaySim's 2026-01-01, and never ahead of the clock.
    const newest = instantOf(await firstTime.innerText())
    expect(newest).toBeGreaterThan(opened - 65 * 60_000)
    expect(newest).toBeLessThanOrEqual(Date.now() + 1000)
    // Rows of one step are spread over their hour: the first page holds many different seconds.
    const times = await transactions.rows().locator('[col-id="ts"]').allInnerTexts()
    expect(new Set(times).size).toBeGreaterThan(times.length / 2)

    // Fresh cases to work, opened now.
    await shell.open('cases')
    await expect(page.getByTestId('case-row').first()).toBeVisible({ timeout: 90_000 })

    // The dashboard says its data is live, with the zone; and its volume moves.
    const dashboard = new DashboardPage(page)
    await shell.open('dashboard')
    const asOf = page.getByTestId('dashboard-as-of')
    await expect(asOf).toHaveAttribute('data-live', 'true', { timeout: 60_000 })
    await expect(asOf).toContainText(/Newest event \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \S+/)
    await dashboard.expectCharts()
    const stored = dashboard.health.getByTestId('health-stored').locator('strong')
    const before = Number((await stored.innerText()).replace(/\D/g, ''))
    await expect
      .poll(async () => Number((await stored.innerText()).replace(/\D/g, '')), { timeout: 60_000 })
      .toBeGreaterThan(before)
    await shell.screenshot('local-first-start-dashboard')
  })

  test('item 7: dashboard charts are readable at every range, with buckets sized to it', async ({
    shell,
    page,
  }) => {
    await shell.waitUntilReady()
    const dashboard = new DashboardPage(page)
    await shell.open('dashboard')
    await dashboard.expectCharts()
    for (const range of ['15 min', '1 hour', '6 hours', '24 hours', '7 days']) {
      await dashboard.chooseRange(range)
      await dashboard.expectCharts()
      for (const chart of ['chart-volume', 'chart-decisions', 'chart-amounts', 'chart-rules'])
        await expectReadable(page, chart)
    }
    // At 7 days: bars of hours (not 1-minute needles), dates as labels, the fraud rate drawn.
    const decisions = page.getByTestId('chart-card-decisions')
    const barSeconds = Number(await decisions.getAttribute('data-bar-seconds'))
    expect(barSeconds).toBeGreaterThanOrEqual(3 * 3600)
    const labels = await expectReadable(page, 'chart-decisions')
    expect(labels.some((label) => /^\d{2}-\d{2}$/.test(label))).toBe(true)
    // The fraud rate's dots: the legend's one and at least one on the plot (a lone bucket is a dot too).
    const dots = await page
      .getByTestId('chart-decisions')
      .locator('svg path[stroke="#8e44ad"]')
      .evaluateAll(
        (paths) =>
          paths.filter((path) => {
            const box = path.getBoundingClientRect()
            return box.width >= 3 && box.height >= 3
          }).length,
      )
    expect(dots).toBeGreaterThanOrEqual(2)
    // Counts tick in whole numbers; amounts are money.
    const rules = await expectReadable(page, 'chart-rules')
    expect(rules.filter((label) => /^\d+\.\d+$/.test(label))).toEqual([])
    const amounts = await expectReadable(page, 'chart-amounts')
    expect(amounts.some((label) => label.includes('$'))).toBe(true)
    await shell.screenshot('triage-dashboard-7-days')
  })

  test('item 8: the quality report’s figures are right and formatted', async ({ shell, page }) => {
    await shell.waitUntilReady()
    await shell.open('datasets')
    const datasets = new DatasetsPage(page)
    await datasets.openSample()
    await datasets.expectImport('done')
    const column = (name: string) => page.getByTestId(`quality-column-${name}`).locator('td')
    // The sample: 19,999 rows, every nameOrig different, steps 1 to 8, 5 types.
    await expect(column('nameOrig').nth(6)).toHaveText('19,999')
    await expect(column('step').nth(6)).toHaveText('8')
    await expect(column('type').nth(6)).toHaveText('5')
    // No min or max of a category or a name; numbers with grouped digits and their decimals.
    await expect(column('type').nth(4)).toHaveText('–')
    await expect(column('nameOrig').nth(5)).toHaveText('–')
    await expect(column('amount').nth(5)).toHaveText('10,000,000.00')
    await expect(column('step').nth(4)).toHaveText('1')
    // Never a distinct count above the values there are.
    for (const row of await page.getByTestId('quality-columns').locator('tbody tr').all()) {
      const distinct = Number((await row.locator('td').nth(6).innerText()).replace(/[^\d]/g, ''))
      expect(distinct).toBeLessThanOrEqual(19_999)
    }
    await shell.screenshot('datasets-quality')
  })

  test('backtest: the sample’s hourly steps are charted per hour, not as one bar for the day', async ({
    shell,
    page,
  }) => {
    await shell.waitUntilReady()
    await shell.open('datasets')
    const datasets = new DatasetsPage(page)
    await datasets.openSample()
    await datasets.expectImport('done')
    await datasets.tab('backtest')
    await page.getByTestId('backtest-run').click()
    await expect(page.getByTestId('backtest-results')).toBeVisible({ timeout: 90_000 })
    const chart = page.getByTestId('chart-alerts-over-time')
    await expect(chart).toHaveAttribute('aria-label', 'Alerts per hour of each version')
    await expect(chart.locator('svg text').first()).toBeVisible()
    const labels = await expectReadable(page, 'chart-alerts-over-time')
    expect(labels).toContain('event hour (UTC)')
    expect(labels).toContain('alerts per hour')
    // PaySim's steps 1 to 8 are eight hours: a bar each (ECharts may leave a label out), the day once.
    const hours = labels.filter((label) => /^0\d:00$/.test(label))
    expect(hours.length).toBeGreaterThanOrEqual(4)
    expect(labels.filter((label) => label === '01-01')).toHaveLength(1)
    const bars = await chart
      .locator('svg path')
      .evaluateAll((paths) => paths.filter((path) => (path.getAttribute('fill') ?? 'none') !== 'none').length)
    expect(bars).toBeGreaterThanOrEqual(16)
  })

  test('item 3: Rules versions, Lists and Datasets show times in the one format with the zone', async ({
    shell,
    page,
  }) => {
    await shell.waitUntilReady()
    const zone = await zoneOf(page)
    expect(zone).not.toBe('')

    await shell.open('rules')
    await page.getByTestId('threshold-review').fill('46')
    await page.getByTestId('save-rules').click()
    await expect(page.getByTestId('rule-version-2')).toContainText(new RegExp(`saved ${ZONED(zone).source}`))

    await shell.open('lists')
    await page.getByTestId('list-value').fill('C3000000001')
    await page.getByTestId('list-reason').fill('times check')
    await page.getByLabel(`Expires (${zone}; empty: never)`).fill('2030-01-02T03:04')
    await page.getByTestId('list-add').click()
    const entries = page.getByTestId('list-entries')
    await expect(entries.locator('thead')).toContainText(`Added (${zone})`)
    await expect(entries.locator('thead')).toContainText(`Expires (${zone})`)
    const entry = page.getByTestId('list-entry').and(page.locator('[data-value="C3000000001"]'))
    await expect(entry.locator('td').nth(4)).toHaveText(TIME)
    await expect(entry.locator('td').nth(5)).toHaveText('2030-01-02 03:04:00')

    await shell.open('datasets')
    const datasets = new DatasetsPage(page)
    await datasets.openSample()
    await datasets.expectImport('done')
    await expect(page.getByTestId('dataset-workspace').locator('.ds-header')).toContainText(
      new RegExp(`imported ${ZONED(zone).source}`),
    )
    await datasets.tab('rows')
    await expect(datasets.headerCell(datasets.grid, 'ts')).toContainText(`ts (${zone})`)
    await expect(datasets.cell(datasets.grid, 0, 'ts')).toHaveText(TIME)
  })
})

test.describe('Team mode', () => {
  test.describe.configure({ timeout: 240_000 })
  let database: TestDatabase
  let redis: PrivateRedis
  let owner: Store
  let worker: ChildProcess | undefined
  const logins: string[] = []

  test.beforeAll(async () => {
    ;[database, redis] = await Promise.all([createTestDatabase('aether_e2e_views'), startPrivateRedis()])
    owner = openPostgresStore({ connectionString: database.url })
    await migrateToLatest(owner)
  })

  test.afterAll(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker?.once('exit', resolve))
      worker.kill('SIGTERM')
      await exited
    }
    await owner?.close()
    await database?.drop()
    const admin = new pg.Client({ connectionString: database.url.replace(/\/[^/]*$/, '/postgres') })
    await admin.connect()
    for (const login of logins) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(login)}`)
    await admin.end()
    await redis?.stop()
  })

  async function signIn(page: Page, app: ServedApp, role: 'analyst' | 'admin' = 'analyst') {
    const login = await addTeamAnalyst(owner, 'Vera', role)
    logins.push(login)
    return signInToTeam(page, app, { databaseUrl: database.url, redisUrl: redis.url }, login)
  }

  test('item 5: Pipeline health shows the whole team — every worker, each partition, the store’s count', async ({
    page,
    app,
  }) => {
    const shell = await signIn(page, app)
    // A headless worker joins the same group beside the workstation's own.
    worker = spawn(
      process.execPath,
      ['bin/aether.js', 'worker', '--postgres-url', database.url, '--redis-url', redis.url],
      { stdio: 'ignore' },
    )
    const dashboard = new DashboardPage(page)
    await shell.open('dashboard')
    const workers = dashboard.health.getByTestId('pipeline-workers').locator('tbody tr[data-alive="true"]')
    await expect(workers).toHaveCount(2, { timeout: 60_000 })
    await expect(dashboard.health.getByTestId('pipeline-workers')).toContainText('(this workstation)')

    // Traffic over several seconds: the team's rate shows while it lasts, and the sparkline moves.
    const replay = spawn(
      process.execPath,
      ['bin/aether.js', 'replay', '--generate', '4000', '--tps', '400', '--redis-url', redis.url],
      { stdio: 'ignore' },
    )
    const replayed = new Promise<number | null>((resolve) => replay.once('exit', resolve))
    const rate = dashboard.health.getByTestId('health-rate').locator('strong')
    await expect
      .poll(async () => Number((await rate.innerText()).replace(/\D/g, '')), { timeout: 60_000 })
      .toBeGreaterThan(0)
    expect(await replayed).toBe(0)
    // Both workers took part: each holds partitions and the partitions table lists all of them.
    const partitions = dashboard.health.getByTestId('pipeline-partitions').locator('tbody tr')
    await expect(partitions).toHaveCount(8)
    for (const row of await workers.all()) await expect(row.locator('td').nth(2)).toHaveText(/\d/)
    // Stored is the store's count, not this workstation's: it reaches every transaction sent.
    const count = async () =>
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM transactions`.execute(owner.db)).rows[0]?.n ??
      0
    await expect.poll(count, { timeout: 60_000 }).toBe(4000)
    const stored = dashboard.health.getByTestId('health-stored').locator('strong')
    await expect(stored).toHaveText('4,000', { timeout: 30_000 })
    const sparkline = dashboard.health.getByTestId('health-sparkline')
    expect(Number(await sparkline.getAttribute('data-points'))).toBeGreaterThan(3)
    await shell.screenshot('pipeline-health-team')
  })
  test('dead letters: the whole message reads in the panel; API keys say when, with the zone', async ({
    page,
    app,
  }) => {
    const shell = await signIn(page, app, 'admin')
    const zone = await zoneOf(page)
    // A producer sends an entry with a long value the pipeline refuses: it becomes a dead letter.
    const long = `${'x'.repeat(150)}-END-OF-VALUE`
    const producer = new Redis(redis.url)
    try {
      const streams = { prefix: DEFAULT_PREFIX, partitions: DEFAULT_PARTITIONS }
      await producer.xadd(
        partitionStream(streams, 0),
        '*',
        ...['v', '1', 'txn_id', randomUUID(), 'user_id', `C${long}`, 'amount', '12.345', 'note', long],
      )
    } finally {
      producer.disconnect()
    }
    const dashboard = new DashboardPage(page)
    await shell.open('dashboard')
    await dashboard.health.getByRole('button', { name: 'show' }).click({ timeout: 60_000 })
    const letters = dashboard.health.getByTestId('dead-letters')
    const message = letters.getByTestId('dead-letter-message').first()
    await expect(message).toContainText(`note=${long}`)
    // Nothing of it runs past the panel: no sideways scrolling, every field inside the message cell.
    const fit = await letters.evaluate((panel) => {
      const cell = panel.querySelector('[data-testid="dead-letter-message"]')
      const box = cell?.getBoundingClientRect()
      const fields = [...(cell?.querySelectorAll('code') ?? [])].map((code) => code.getBoundingClientRect())
      return {
        scrolls: panel.scrollWidth > panel.clientWidth + 1,
        outside: fields.filter((f) => !box || f.left < box.left - 1 || f.right > box.right + 1).length,
        fields: fields.length,
      }
    })
    expect(fit).toEqual({ scrolls: false, outside: 0, fields: 5 })
    await expect(letters.locator('thead')).toContainText(`Refused at (${zone})`)

    // Settings → API keys: when a key was created, with the zone.
    await shell.open('settings')
    const panel = page.getByTestId('api-keys-panel')
    const form = panel.getByTestId('create-api-key-form')
    await form.getByLabel(/^Name/).fill('times-check')
    await form.getByRole('button', { name: 'Create key' }).click()
    await expect(panel.getByTestId('api-key-row-times-check')).toContainText(
      new RegExp(`on ${ZONED(zone).source}`),
    )
  })
})
