import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from '@playwright/test'
import { sql } from 'kysely'
import pg from 'pg'
import { Redis } from 'ioredis'
import {
  DEFAULT_PARTITIONS,
  DEFAULT_PREFIX,
  WIRE_VERSION,
  partitionOf,
  partitionStream,
} from '../src/main/pipeline/partitioning'
import { migrateToLatest } from '../src/main/store/migrate'
import { openPostgresStore, type Store } from '../src/main/store/store'
import { seedScored } from '../test/support/triage'
import { startPrivateRedis, type PrivateRedis } from '../test/support/private-servers'
import { createTestDatabase, type TestDatabase } from '../test/support/services'
import { addTeamAnalyst, signInToTeam } from './team'
import { expect, serveApp, stopApp, test, type ServedApp } from './fixtures'
import { CasesPage } from './pages/cases-page'
import { DashboardPage } from './pages/dashboard-page'
import { TransactionsPage } from './pages/transactions-page'

/**
 * Triage end to end, in Chromium, on a team backend of the test's own: a fresh database on the shared
 * PostgreSQL and a private Redis. Analysts are real PostgreSQL logins; the workstation's embedded worker
 * consumes the stream with the signed-in analyst's login, so an admin lets their desks ingest too, as
 * on a team where every analyst's machine adds ingest capacity.
 */

const HEADER =
  'step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud'
const FRAUDSTER = 'C9000000001'
const STREAMS = { prefix: DEFAULT_PREFIX, partitions: DEFAULT_PARTITIONS }

let database: TestDatabase
let redis: PrivateRedis
let owner: Store
let files: string
const logins: { login: string; name: string }[] = []

async function addAnalyst(name: string) {
  const login = await addTeamAnalyst(owner, name)
  logins.push({ login, name })
  return login
}

async function replay(name: string, rows: string[]) {
  const file = join(files, name)
  await writeFile(file, `${HEADER}\n${rows.join('\n')}\n`)
  const run = spawnSync(process.execPath, ['bin/aether.js', 'replay', file, '--redis-url', redis.url], {
    encoding: 'utf8',
  })
  expect(run.status, run.stderr).toBe(0)
}

const signIn = (page: Page, app: ServedApp, login: string) =>
  signInToTeam(page, app, { databaseUrl: database.url, redisUrl: redis.url }, login)

// Signing in, replaying and working a case end to end takes longer than a page check.
test.describe.configure({ timeout: 240_000 })

test.beforeAll(async () => {
  ;[database, redis] = await Promise.all([createTestDatabase('aether_e2e_triage'), startPrivateRedis()])
  owner = openPostgresStore({ connectionString: database.url })
  await migrateToLatest(owner)
  files = await mkdtemp(join(tmpdir(), 'aether-e2e-triage-'))
})

test.afterAll(async () => {
  await owner?.close()
  await database?.drop()
  const admin = new pg.Client({ connectionString: database.url.replace(/\/[^/]*$/, '/postgres') })
  await admin.connect()
  for (const { login } of logins) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(login)}`)
  await admin.end()
  await redis?.stop()
  await rm(files, { recursive: true, force: true })
})

test('an alert from the stream, worked to the blocklist, blocks the fraudster’s next transaction', async ({
  page,
  app,
}) => {
  const alice = await addAnalyst('Alice')
  const shell = await signIn(page, app, alice)
  const cases = new CasesPage(page)
  await shell.open('cases')
  await expect(page.getByTestId('live-indicator')).toHaveText('Live')

  await replay('stream.csv', [
    '1,PAYMENT,9839.64,C1000000001,170136.00,160296.36,M1979787155,0.00,0.00,0,0',
    '1,PAYMENT,1864.28,C1000000002,21249.00,19384.72,M2044282225,0.00,0.00,0,0',
    `1,TRANSFER,25000.00,${FRAUDSTER},25000.00,0.00,C8000000001,0.00,0.00,1,0`,
    '1,CASH_IN,5000.00,C1000000003,100.00,5100.00,C8000000002,9000.00,4000.00,0,0',
  ])
  // The alert arrives by LISTEN/NOTIFY: the queue shows the case without a reload.
  await expect(cases.row(FRAUDSTER)).toBeVisible({ timeout: 60_000 })

  const caseId = await cases.next()
  await expect(cases.view).toContainText(FRAUDSTER)
  await expect(cases.view.getByTestId('case-assignee')).toHaveText('Alice')
  await expect(cases.view).toContainText('empties the account')
  await cases.addNote('Customer confirms the transfer was not theirs')
  await shell.screenshot('triage-case')
  await cases.resolveAsFraud({ blockUser: true, note: 'account takeover' })

  await shell.open('lists')
  await expect(
    page.getByTestId('list-entry').and(page.locator(`[data-kind="user"][data-value="${FRAUDSTER}"]`)),
  ).toContainText(`Case ${caseId} confirmed as fraud by Alice`)

  await shell.open('cases')
  await replay('next.csv', [`2,PAYMENT,12.50,${FRAUDSTER},100.00,87.50,M1000000002,0.00,0.00,0,0`])
  // Generous bounds: on a busy machine the worker may take a while to take partitions and commit.
  await expect(cases.row(FRAUDSTER).filter({ hasText: 'Open' })).toBeVisible({ timeout: 60_000 })

  const transactions = new TransactionsPage(page)
  await shell.open('transactions')
  await transactions.filterUser(FRAUDSTER)
  await expect(transactions.rows()).toHaveCount(2)
  await transactions.openFirstRow()
  await expect(transactions.detail).toContainText('PAYMENT')
  await expect(transactions.detail.getByTestId('reasons')).toContainText('on the blocklist')
  await expect(transactions.detail.getByTestId('reasons')).toContainText('blocklist')
  await expect(transactions.detail).toContainText('Block')
  await shell.screenshot('triage-transactions')

  await shell.open('cases')
  await page.getByTestId('queue-status').selectOption('closed')
  await cases.row(FRAUDSTER).click()
  await expect(cases.view).toHaveAttribute('data-case-id', String(caseId))
  for (const action of ['assigned', 'note', 'closed', 'blocklisted'])
    await expect(cases.auditRow(action)).toContainText('Alice')
  await expect(cases.auditRow('opened')).toHaveCount(1)

  // A few thousand generated transactions give the charts something to show.
  const generated = spawnSync(
    process.execPath,
    ['bin/aether.js', 'replay', '--generate', '2000', '--redis-url', redis.url],
    { encoding: 'utf8' },
  )
  expect(generated.status, generated.stderr).toBe(0)
  const stored = async () =>
    (await sql<{ n: number }>`SELECT count(*)::int AS n FROM transactions`.execute(owner.db)).rows[0]?.n
  await expect.poll(stored, { timeout: 60_000 }).toBeGreaterThanOrEqual(2005)
  const dashboard = new DashboardPage(page)
  await shell.open('dashboard')
  await dashboard.chooseRange('1 hour')
  await dashboard.expectCharts()
  await expect(dashboard.health).toBeVisible()
  await shell.screenshot('triage-dashboard')

  // A producer sends an amount with three decimals: the dashboard lists the dead letter and why.
  // Its fields are written out: the worker trims what it has stored, so the stream may hold no entry to copy.
  const producer = new Redis(redis.url)
  try {
    await producer.xadd(
      partitionStream(STREAMS, partitionOf('C1000000004', STREAMS.partitions)),
      '*',
      ...['v', WIRE_VERSION, 'txn_id', randomUUID(), 'ts', '2026-01-01T01:30:00Z', 'user_id', 'C1000000004'],
      ...['counterparty_id', 'M1000000004', 'type', 'PAYMENT', 'amount', '12.345', 'currency', 'USD'],
    )
  } finally {
    producer.disconnect()
  }
  await dashboard.health.getByRole('button', { name: 'show' }).click({ timeout: 60_000 })
  const letter = dashboard.health.getByTestId('dead-letters').locator('tbody tr').first()
  await expect(letter).toContainText('at most 2 decimal places')
  await expect(letter).toContainText('amount=12.345')
  await shell.screenshot('pipeline-dead-letters')
})

async function analystWindow(browser: Browser, login: string) {
  const app = await serveApp()
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  const page = await context.newPage()
  const shell = await signIn(page, app, login)
  await shell.open('cases')
  return { app, context, page, cases: new CasesPage(page) }
}

test('two analysts pressing Next case at once never get the same case, and a stale edit is refused', async ({
  browser,
}) => {
  const bobLogin = await addAnalyst('Bob')
  const carolLogin = await addAnalyst('Carol')
  const [bob, carol] = await Promise.all([
    analystWindow(browser, bobLogin),
    analystWindow(browser, carolLogin),
  ])
  try {
    await seedScored(
      owner,
      // 100 presses hand out 100 of these; the lowest-scored (C-pair-0 among them) stay in the queue.
      Array.from({ length: 110 }, (_, i) => ({
        userId: `C-pair-${i}`,
        decision: 'review' as const,
        score: 45 + Math.floor(i / 2),
      })),
    )
    const taken: number[] = []
    for (let round = 0; round < 50; round++) {
      const pair = await Promise.all([bob.cases.next(), carol.cases.next()])
      taken.push(...pair)
    }
    expect(taken).toHaveLength(100)
    expect(new Set(taken).size).toBe(taken.length)

    // Both open the same unassigned case; Carol escalates it first, then Bob's edit is stale.
    await Promise.all([bob, carol].map((who) => who.page.getByTestId('queue-status').selectOption('open')))
    const shared = 'C-pair-0'
    await bob.cases.row(shared).click()
    await carol.cases.row(shared).click()
    await expect(bob.cases.view).toContainText(shared)
    await carol.cases.view.getByTestId('escalate').click()
    await expect(carol.cases.view.getByTestId('case-status')).toContainText('Escalated')
    await bob.cases.view.getByTestId('escalate').click()
    await expect(bob.cases.error).toContainText(
      /Carol changed this case at \d{2}:\d{2}; reload to see the change/,
    )
  } finally {
    for (const who of [bob, carol]) {
      await who.context.close()
      await stopApp(who.app)
    }
  }
})
