import { spawn } from 'node:child_process'
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from '@playwright/test'
import { sql } from 'kysely'
import pg from 'pg'
import { migrateToLatest } from '../src/main/store/migrate'
import { openPostgresStore, type Store } from '../src/main/store/store'
import { reason, seedScored } from '../test/support/triage'
import { startPrivateRedis, type PrivateRedis } from '../test/support/private-servers'
import { createTestDatabase, type TestDatabase } from '../test/support/services'
import { addTeamAnalyst, signInToTeam } from './team'
import { expect, test, type ServedApp } from './fixtures'
import { AppShell } from './pages/app-shell'
import { CasesPage } from './pages/cases-page'
import { DatasetsPage } from './pages/datasets-page'
import { SettingsPage } from './pages/settings-page'
import { TransactionsPage } from './pages/transactions-page'

/**
 * What an analyst hits in the first hour (issue 14, items 1, 2, 4, 6, 9, 10 and the smaller ones of
 * these areas), each checked the way the analyst meets it, in Chromium through `aether serve`. The Team
 * checks run on a database of this file's own on the shared PostgreSQL and a private Redis; the
 * backtest and the rail on a fresh Local workstation.
 */

let database: TestDatabase
let redis: PrivateRedis
let owner: Store
const logins: string[] = []

// Signing in to a team database and working cases takes longer than a page check.
test.describe.configure({ timeout: 240_000 })

test.beforeAll(async () => {
  ;[database, redis] = await Promise.all([createTestDatabase('aether_e2e_ux'), startPrivateRedis()])
  owner = openPostgresStore({ connectionString: database.url })
  await migrateToLatest(owner)
})

test.afterAll(async () => {
  await owner?.close()
  await database?.drop()
  const admin = new pg.Client({ connectionString: database.url.replace(/\/[^/]*$/, '/postgres') })
  await admin.connect()
  for (const login of logins) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(login)}`)
  await admin.end()
  await redis?.stop()
})

/** Switches the workstation to a Team profile signed in as a new analyst. */
async function signIn(page: Page, app: ServedApp, name: string) {
  const login = await addTeamAnalyst(owner, name)
  logins.push(login)
  return signInToTeam(page, app, { databaseUrl: database.url, redisUrl: redis.url }, login)
}

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000)

async function closeEveryCase() {
  await sql`UPDATE cases SET status = 'closed', outcome = 'inconclusive', closed_at = now() WHERE status <> 'closed'`.execute(
    owner.db,
  )
}

// Runs first: the database is empty, so the empty states can be told apart.
test('item 4: prefix search on user and counterparty, and empty states that say which empty it is', async ({
  page,
  app,
}) => {
  const shell = await signIn(page, app, 'Sam')
  const cases = new CasesPage(page)
  const transactions = new TransactionsPage(page)
  const empty = page.getByTestId('empty-state')

  // Nothing stored at all: neither page blames filters nobody set.
  await shell.open('transactions')
  await expect(transactions.grid.getByTestId('grid-empty')).toHaveAttribute('data-empty', 'no-data')
  await expect(transactions.grid).toContainText('No transactions yet')
  await shell.open('cases')
  await expect(empty).toContainText('No cases yet')

  await seedScored(owner, [
    { userId: 'C3000000017', counterpartyId: 'M7700000001', decision: 'review', reasons: [reason('r', 'a')] },
    { userId: 'C3000000099', counterpartyId: 'M7700000002', decision: 'review', reasons: [reason('r', 'b')] },
    { userId: 'C4000000001', counterpartyId: 'M8800000001', decision: 'review', reasons: [reason('r', 'c')] },
  ])

  // The beginning of an ID finds every case and transaction whose user starts with it.
  await page.getByLabel('Search by user').fill('C3000000')
  await expect(cases.row('C3000000017')).toBeVisible()
  await expect(cases.row('C3000000099')).toBeVisible()
  await expect(page.getByTestId('case-row')).toHaveCount(2)
  await page.getByLabel('Search by user').fill('C3999')
  await expect(empty).toContainText('No case for a user starting with “C3999”')

  await shell.open('transactions')
  await transactions.filterUser('C3000000')
  await expect(transactions.rows()).toHaveCount(2)
  await transactions.filterUser('')
  await page.getByTestId('filter-counterparty').fill('M88')
  await expect(transactions.rows()).toHaveCount(1)
  await expect(transactions.rows().first()).toContainText('C4000000001')
  await page.getByTestId('filter-counterparty').fill('M99')
  await expect(transactions.grid.getByTestId('grid-empty')).toHaveAttribute('data-empty', 'no-match')

  // Every case closed: the queue is clear, which is neither "no data" nor "no match".
  await closeEveryCase()
  await shell.open('cases')
  await expect(empty).toContainText('No cases — the queue is clear')
  await page.getByLabel('Overdue').check()
  await expect(empty).toContainText('No cases match these filters')
})

test('item 2: the case view’s alerts read at full width, the queue keeps Due and Opened, and resolving goes on to the next case', async ({
  page,
  app,
}) => {
  await closeEveryCase()
  const shell = await signIn(page, app, 'Rita')
  const cases = new CasesPage(page)
  const why =
    'amount 9,800.00 is 6.2 standard deviations above this user’s mean of 120.00 over 40 transactions, limit 4'
  await seedScored(owner, [
    ...Array.from({ length: 7 }, (_, i) => ({
      userId: 'C-seven-alerts',
      counterpartyId: `C55500000${i}`,
      decision: 'block' as const,
      score: 95,
      amount: '9800.00',
      ts: minutesAgo(10 - i),
      reasons: [reason('amount_zscore', why), reason('new_counterparty', `first payment to C55500000${i}`)],
    })),
    { userId: 'C-next-in-line', decision: 'review', score: 50, reasons: [reason('r', 'the next one')] },
  ])
  await shell.open('cases')
  await cases.next()
  await expect(cases.view).toContainText('C-seven-alerts')
  // An analyst may give the case back to the queue or keep it, not hand it to a colleague (a
  // supervisor's, refused by the store): Reassign offers only those two.
  await expect(cases.view.getByTestId('reassign-to').locator('option')).toHaveText([
    'Back to the queue',
    'Rita (analyst)',
  ])
  await expect(cases.view.getByTestId('reassign-own-only')).toHaveText('Supervisors assign cases to others.')

  const alerts = cases.view.getByTestId('case-alerts')
  await expect(alerts.getByTestId('case-alert')).toHaveCount(7)
  const table = await alerts.boundingBox()
  const whyCell = await alerts.getByTestId('alert-why').first().boundingBox()
  expect(table).not.toBeNull()
  expect(whyCell).not.toBeNull()
  // The reasons take the table's width and a line or two, not a word per line.
  expect(whyCell!.width).toBeGreaterThan(table!.width * 0.9)
  expect(whyCell!.height).toBeLessThan(60)

  // Beside the open case the queue still shows when each case is due and how long it has been open.
  const host = await page.locator('.queue-host').boundingBox()
  for (const header of ['Due', 'Opened']) {
    const cell = await cases.queue.locator('th', { hasText: new RegExp(`^${header}$`) }).boundingBox()
    expect(cell, header).not.toBeNull()
    expect(cell!.x + cell!.width, header).toBeLessThanOrEqual(host!.x + host!.width + 1)
  }
  await expect(cases.queue.getByTestId('case-due').first()).toBeVisible()
  await expect(cases.queue.getByTestId('case-opened').first()).toBeVisible()
  await shell.screenshot('case-alerts-readable')

  // Resolving goes on to the next case, as Next case would.
  const resolved = await cases.view.getAttribute('data-case-id')
  await cases.view.getByTestId('resolve').click()
  const dialog = page.getByTestId('resolve-dialog')
  await dialog.getByTestId('outcome-false_positive').check()
  await dialog.getByTestId('resolve-confirm').click()
  await expect(cases.view).not.toHaveAttribute('data-case-id', resolved ?? '')
  await expect(cases.view).toContainText('C-next-in-line')
  await expect(cases.view.getByTestId('case-assignee')).toHaveText('Rita')
})

test('item 6: the two sides of one money trail link to each other, resolving one offers to block the other, and the headline agrees with the top alert', async ({
  page,
  app,
}) => {
  await closeEveryCase()
  const shell = await signIn(page, app, 'Vic')
  const cases = new CasesPage(page)
  const amount = '1004266.22'
  await seedScored(owner, [
    {
      userId: 'C-victim-1',
      type: 'PAYMENT',
      decision: 'review',
      score: 60,
      ts: minutesAgo(9),
      reasons: [reason('velocity_1m', '6 transactions in 1 min, limit 5')],
    },
    {
      userId: 'C-victim-1',
      counterpartyId: 'C-mule-1',
      type: 'TRANSFER',
      amount,
      decision: 'block',
      score: 97,
      ts: minutesAgo(8),
      reasons: [
        reason('velocity_1m', '7 transactions in 1 min, limit 5'),
        reason('drain', 'empties the account'),
      ],
    },
    {
      userId: 'C-mule-1',
      counterpartyId: 'C-agent-1',
      type: 'CASH_OUT',
      amount,
      decision: 'review',
      score: 70,
      ts: minutesAgo(3),
      reasons: [reason('drain', 'cashes out everything just received')],
    },
  ])
  const caseOf = async (userId: string) =>
    (
      await sql<{
        id: number
      }>`SELECT id::int AS id FROM cases WHERE user_id = ${userId} AND status <> 'closed'`.execute(owner.db)
    ).rows[0]?.id
  const [victimCase, muleCase] = [await caseOf('C-victim-1'), await caseOf('C-mule-1')]

  await shell.open('cases')
  await cases.row('C-mule-1').click()
  await expect(cases.view.getByTestId('related-case')).toHaveAttribute('data-case-id', String(victimCase))
  await cases.row('C-victim-1').click()
  const related = cases.view.getByTestId('related-case')
  await expect(related).toHaveAttribute('data-case-id', String(muleCase))
  await expect(related).toContainText('C-mule-1')
  await expect(related).toContainText('$1,004,266.22')
  // The headline's reasons are the top (newest) alert's: 7, as its row says, not the older alert's 6.
  await expect(cases.view.getByTestId('reasons')).toContainText('7 transactions in 1 min')
  await expect(cases.view.getByTestId('reasons')).not.toContainText('6 transactions')
  await expect(cases.view.getByTestId('alert-why').first()).toContainText('7 transactions in 1 min')
  await shell.screenshot('case-related')

  // Resolving the victim's case offers the mule's account too; blocking it lists it.
  await cases.view.getByTestId('resolve').click()
  const dialog = page.getByTestId('resolve-dialog')
  await dialog.getByTestId('outcome-fraud_confirmed').check()
  await dialog.getByTestId('block-user').uncheck()
  await dialog.getByTestId('block-related-C-mule-1').check()
  await dialog.getByTestId('resolve-confirm').click()
  await expect(page.getByTestId('resolve-dialog')).toBeHidden()
  await shell.open('lists')
  await expect(
    page.getByTestId('list-entry').and(page.locator('[data-kind="user"][data-value="C-mule-1"]')),
  ).toContainText(`Case ${victimCase} confirmed as fraud by Vic`)
})

test('item 9: no developer text in forms, detail panels or the audit trail, and a score filter keeps its bounds', async ({
  page,
  app,
}) => {
  await closeEveryCase()
  const shell = await signIn(page, app, 'Dev')
  const cases = new CasesPage(page)
  const transactions = new TransactionsPage(page)
  await seedScored(owner, [
    {
      userId: 'C-plain-words',
      decision: 'block',
      score: 92,
      reasons: [
        {
          rule: 'mule_destination',
          text: 'sent to an account whose balance does not move',
          weight: 40,
          values: { cp_balance_before: '0.00', cp_balance_after: '0.00', amount: '500.00' },
        },
      ],
    },
  ])

  // The detail panel names the values a rule reports in words.
  await shell.open('transactions')
  await transactions.filterUser('C-plain-words')
  await transactions.openFirstRow()
  const reasons = transactions.detail.getByTestId('reasons')
  await expect(reasons).toContainText('recipient’s balance after: 0.00')
  await expect(reasons).not.toContainText('cp_balance')
  await expect(reasons).not.toContainText('mule_destination')

  // A score out of bounds is refused in words, not bent to 100 (C-plain-words' 92 would then be gone):
  // the grid keeps the filters it had.
  await page.getByTestId('filter-score-min').fill('150')
  await expect(page.getByTestId('filter-score-error')).toContainText('whole number from 0 to 100')
  await expect(page.getByTestId('filter-score-min')).toHaveAttribute('aria-invalid', 'true')
  await expect(transactions.rows()).toHaveCount(1)
  await expect(transactions.rows().first()).toContainText('C-plain-words')

  // A form says what is missing in plain words.
  await page.getByTestId('open-submit').click()
  await page.getByTestId('submit-transaction').click()
  const userError = page.getByTestId('submit-error-user_id')
  await expect(userError).toHaveText('This is required.')
  await page.getByTestId('submit-dialog').getByRole('button', { name: 'Close', exact: true }).click()

  // The audit trail reads as statuses and outcomes, never their stored names.
  await shell.open('cases')
  await cases.next()
  await cases.resolveAsFraud({ blockUser: false })
  await page.getByTestId('queue-status').selectOption('closed')
  await cases.row('C-plain-words').click()
  const audit = cases.view.getByTestId('audit-trail')
  await expect(audit).toContainText('Status: In review → Closed')
  await expect(audit).toContainText('Outcome: Fraud confirmed')
  await expect(audit).not.toContainText(/in_review|fraud_confirmed|alert_id|false_positive/)
})

test('item 1: the backtest compares against the version in force, B copies A, and publishing over a newer version is refused', async ({
  page,
  app,
}) => {
  const shell = new AppShell(page)
  await page.goto(app.url)
  await shell.waitUntilReady()

  // Someone saves version 2 on the Rules page: "Save" waits for a change first.
  await shell.open('rules')
  const save = page.getByTestId('save-rules')
  await expect(save).toHaveText('Save as version 2')
  await expect(save).toBeDisabled()
  await page.getByTestId('threshold-review').fill('45')
  await expect(save).toBeEnabled()
  await save.click()
  await expect(page.getByRole('heading', { name: 'Rules in force: version 2' })).toBeVisible()

  const datasets = new DatasetsPage(page)
  await shell.open('datasets')
  await datasets.openSample()
  await datasets.expectImport('done')
  await datasets.tab('backtest')
  await expect(page.getByTestId('backtest-a')).toHaveText('A: version 2 (in force)')
  await expect(page.getByTestId('backtest-b')).toHaveText('B: a copy of version 2, edited')
  await expect(page.getByTestId('threshold-review')).toHaveValue('45')
  await expect(page.getByTestId('backtest-a-version').locator('option')).toHaveText([
    'Version 2 (in force)',
    'Version 1',
  ])
  await page.getByTestId('threshold-block').fill('75')
  await page.getByTestId('backtest-run').click()
  await expect(page.getByTestId('backtest-results')).toBeVisible({ timeout: 90_000 })

  // Meanwhile a colleague saves version 3 in another window.
  const other = await page.context().newPage()
  await other.goto(app.url)
  const otherShell = new AppShell(other)
  await otherShell.waitUntilReady()
  await otherShell.open('rules')
  await other.getByTestId('threshold-review').fill('50')
  await other.getByTestId('save-rules').click()
  await expect(other.getByRole('heading', { name: 'Rules in force: version 3' })).toBeVisible()
  await other.close()

  await page.getByTestId('publish-rules').click()
  await expect(page.getByTestId('publish-error')).toContainText(
    'rules version 3 was saved after B was copied from version 2',
  )
  await expect(page.getByTestId('publish-result')).toHaveCount(0)
})

/** What the servers of the keychain check said, shown when it fails. */
let serveLog = ''

/**
 * `aether serve` on a data folder of the test's choosing. With `locked`, it runs in a D-Bus session of its
 * own whose GNOME Keyring holds a copy of this run's keyrings but was never unlocked, and no prompt can
 * unlock it: the OS keychain is there and refuses every read and delete, as on a desktop whose keyring
 * stays locked.
 */
async function serveOn(
  dataDir: string,
  keychain: 'unlocked' | 'locked',
  service: string,
): Promise<ServedApp> {
  const env: NodeJS.ProcessEnv = { ...process.env, AETHER_KEYCHAIN_SERVICE: service }
  const serve = ['bin/aether.js', 'serve', '--port', '0', '--data-dir', dataDir]
  let command = process.execPath
  let args = serve
  if (keychain === 'locked') {
    const home = join(dataDir, 'locked-keyring')
    if (process.env.XDG_DATA_HOME !== undefined)
      await cp(join(process.env.XDG_DATA_HOME, 'keyrings'), join(home, 'keyrings'), { recursive: true })
    env.XDG_DATA_HOME = home
    command = 'dbus-run-session'
    args = [
      '--',
      'bash',
      '-c',
      'gnome-keyring-daemon --start --components=secrets >/dev/null && exec "$0" "$@"',
      process.execPath,
      ...serve,
    ]
  }
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`aether serve did not start:\n${output}`)), 90_000)
    const read = (chunk: Buffer) => {
      output += chunk.toString()
      serveLog += chunk.toString()
      const match = /(http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(output)
      if (match?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(match[1])
      }
    }
    child.stdout.on('data', read)
    child.stderr.on('data', read)
    child.once('exit', (code, signal) => {
      serveLog += `aether serve exited: ${code ?? signal}\n`
      reject(new Error(`aether serve exited with ${code ?? signal}:\n${output}`))
    })
  })
  return { url, dataDir, process: child }
}

/** Stops the server and everything it started (its D-Bus session and keyring too), keeping its data. */
async function stopKeepingData(app: ServedApp) {
  if (app.process.exitCode !== null || app.process.signalCode !== null) return
  const exited = new Promise((resolve) => app.process.once('exit', resolve))
  if (app.process.pid !== undefined) process.kill(-app.process.pid, 'SIGTERM')
  await exited
}

test('roles: an analyst reads Lists, Rules and the team webhook without the controls only admins may use', async ({
  page,
  app,
}) => {
  await sql`INSERT INTO lists (kind, value, reason) VALUES ('user', 'C_ROLE_READER', 'seeded by the owner')`.execute(
    owner.db,
  )
  await sql`INSERT INTO triage_settings (key, value) VALUES ('webhook_url', 'https://hooks.example.com/services/T/B/roles-secret')
            ON CONFLICT (key) DO UPDATE SET value = excluded.value`.execute(owner.db)
  // An analyst whose desk ingests (addTeamAnalyst's default): the ingest group no longer reads the
  // webhook's URL, only the worker group, whose `aether worker` logins post to it (0024).
  const login = await addTeamAnalyst(owner, 'Reader')
  logins.push(login)
  const shell = await signInToTeam(page, app, { databaseUrl: database.url, redisUrl: redis.url }, login)

  // Lists: the entries, no form to add one and no Remove (the store refuses an analyst's writes).
  await shell.open('lists')
  const entry = page.locator('[data-testid="list-entry"][data-value="C_ROLE_READER"]')
  await expect(entry).toBeVisible()
  await expect(page.getByTestId('lists-admins-only')).toContainText('admins keep these lists')
  await expect(page.getByTestId('list-form')).toHaveCount(0)
  await expect(entry.getByRole('button')).toHaveCount(0)

  // Rules: the version in force, read only.
  await shell.open('rules')
  await expect(page.getByTestId('rules-admins-only')).toBeVisible()
  await expect(page.getByTestId('save-rules')).toHaveCount(0)
  await expect(page.getByTestId('threshold-block')).toBeDisabled()
  await expect(page.getByRole('button', { name: /Revert to this version/ })).toHaveCount(0)

  // Settings: that a webhook is set and by whom, never its address.
  await shell.open('settings')
  const webhook = page.getByTestId('webhook-admins-only')
  await expect(webhook).toContainText('set by')
  await expect(page.getByTestId('webhook-form')).toHaveCount(0)
  await expect(page.locator('body')).not.toContainText('roles-secret')
})

test('item 10: deleting a profile works with a keychain that cannot be used, and one with a saved password says what it could not remove', async ({
  page,
}) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'aether-e2e-keychain-'))
  const service = `aether-e2e-${process.pid}-${Date.now()}`
  const settings = new SettingsPage(page)
  const shell = new AppShell(page)
  let app: ServedApp | undefined
  try {
    // With a keychain: a profile whose PostgreSQL password is saved in it.
    app = await serveOn(dataDir, 'unlocked', service)
    await page.goto(app.url)
    await shell.waitUntilReady()
    await shell.open('settings')
    await settings.fill({
      name: 'Saved',
      postgresUrl: 'postgres://someone@127.0.0.1:1/none',
      postgresPassword: 'secret',
      redisUrl: 'redis://127.0.0.1:1',
    })
    await settings.save()
    await expect(settings.profileRow('Saved')).toBeVisible()
    await stopKeepingData(app)

    // The same workstation with the keychain locked for good.
    app = await serveOn(dataDir, 'locked', service)
    await page.goto(app.url)
    await shell.waitUntilReady()
    await shell.open('settings')
    await settings.fill({
      name: 'Plain',
      postgresUrl: 'postgres://someone@127.0.0.1:1/none',
      redisUrl: 'redis://127.0.0.1:1',
    })
    await settings.save()
    const plain = settings.profileRow('Plain')
    await expect(plain).toBeVisible()
    await plain.getByRole('button', { name: 'Delete', exact: true }).click()
    await expect(plain.getByTestId('delete-confirm')).toContainText('no saved password')
    await plain.getByRole('button', { name: 'Delete profile' }).click()
    await expect(plain).toHaveCount(0)

    const saved = settings.profileRow('Saved')
    await saved.getByRole('button', { name: 'Delete', exact: true }).click()
    await saved.getByRole('button', { name: 'Delete profile' }).click()
    await expect(saved.getByTestId('row-error')).toContainText(
      '“Saved” was not deleted: its saved PostgreSQL password could not be removed from the OS keychain',
    )
    await expect(saved).toBeVisible()
  } catch (error) {
    console.log(serveLog)
    throw error
  } finally {
    if (app) await stopKeepingData(app)
    await rm(dataDir, { recursive: true, force: true })
  }
})

test('smaller: the rail’s shortcuts read as shortcuts, not unread counts, and a column filter applies as typed', async ({
  page,
  app,
}) => {
  const shell = new AppShell(page)
  await page.goto(app.url)
  await shell.waitUntilReady()
  const hint = page.getByTestId('nav-cases').getByTestId('rail-shortcut')
  await expect(hint).toHaveText('Alt+2')
  // Shown where the pointer or focus is, never as a standing badge beside every area.
  await expect(hint).toHaveCSS('opacity', '0')
  await page.getByTestId('nav-cases').hover()
  await expect(hint).toHaveCSS('opacity', '1')

  // A dataset's column filter narrows the grid as the analyst types, with no Apply to press.
  const datasets = new DatasetsPage(page)
  await shell.open('datasets')
  await datasets.openSample()
  await datasets.expectImport('done')
  await datasets.tab('rows')
  await expect(datasets.gridCount).toHaveText('19,999 rows')
  const header = datasets.grid.locator('.ag-header-cell[col-id="type"]')
  await header.hover()
  await header.locator('.ag-header-cell-filter-button, .ag-header-cell-menu-button').first().click()
  const popup = page.locator('.ag-filter')
  await popup.locator('input[type="text"]').first().fill('TRANSFER')
  await expect(popup.getByRole('button', { name: 'Apply' })).toHaveCount(0)
  await expect(datasets.gridCount).not.toHaveText('19,999 rows')
  await expect(datasets.gridCount).toHaveText(/^[\d,]+ rows?$/)
})
