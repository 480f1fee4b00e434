import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createORPCClient, ORPCError } from '@orpc/client'
import { RPCLink } from '@orpc/client/websocket'
import type { ContractRouterClient } from '@orpc/contract'
import type { Locator, Page } from '@playwright/test'
import { sql } from 'kysely'
import pg from 'pg'
import WebSocket from 'ws'
import { migrateToLatest } from '../src/main/store/migrate'
import { openPostgresStore, type Store } from '../src/main/store/store'
import type { Contract } from '../src/shared/contract'
import type { Transaction } from '../src/shared/transaction'
import { startPrivateRedis, type PrivateRedis } from '../test/support/private-servers'
import { createTestDatabase, uniqueName, type TestDatabase } from '../test/support/services'
import { addTeamAnalyst, signInToTeam } from './team'
import { expect, test, type ServedApp } from './fixtures'
import { CasesPage } from './pages/cases-page'
import { TransactionsPage } from './pages/transactions-page'

/**
 * The Decision API end to end, in Chromium, on a team backend of the test's own (a fresh database on the
 * shared PostgreSQL, a private Redis): an admin creates an API key in Settings, a real `aether gateway`
 * process takes a transaction with it and answers with the decision the admin's own workstation worker
 * stored, the Transactions grid shows it live with the key's name, and a block opens a case. An analyst
 * who is not an admin sees no API keys and the workstation refuses them the calls.
 */

let database: TestDatabase
let redis: PrivateRedis
let owner: Store
let gatewayUrl: string
const logins: string[] = []

/** The gateway's own login, in this database's ingest group (as a team runs it). */
async function gatewayLogin() {
  const login = uniqueName('aether_gw_e2e')
  await sql.raw(`CREATE ROLE ${login} LOGIN`).execute(owner.db)
  logins.push(login)
  await sql
    .raw(`DO $$ BEGIN EXECUTE format('GRANT %I TO ${login}', aether_team_role('ingest')); END $$`)
    .execute(owner.db)
  const url = new URL(database.url)
  url.username = login
  return url.toString()
}

async function addAnalyst(name: string, role: 'analyst' | 'admin') {
  const login = await addTeamAnalyst(owner, name, role)
  logins.push(login)
  return login
}

const signIn = (page: Page, app: ServedApp, login: string) =>
  signInToTeam(page, app, { databaseUrl: database.url, redisUrl: redis.url }, login)

interface Gateway {
  url: string
  process: ChildProcess
  output(): string
}

/** `aether gateway` as the team runs it: the built command, connected as a login of the ingest group. */
async function startGateway(): Promise<Gateway> {
  const child = spawn(
    process.execPath,
    [
      'bin/aether.js',
      'gateway',
      '--postgres-url',
      gatewayUrl,
      '--redis-url',
      redis.url,
      '--port',
      '0',
      // A busy machine: the test wants the stored decision, not the provisional one.
      '--budget-ms',
      '20000',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`aether gateway did not start:\n${output}`)), 60_000)
    const read = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /Decision API at (\S+) /.exec(output)
      if (match?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(match[1])
      }
    }
    child.stdout.on('data', read)
    child.stderr.on('data', read)
    child.once('exit', (code) => reject(new Error(`aether gateway exited with ${code}:\n${output}`)))
  })
  return { url, process: child, output: () => output }
}

async function stopGateway(gateway: Gateway | undefined) {
  if (gateway === undefined || gateway.process.exitCode !== null) return
  const exited = new Promise((resolve) => gateway.process.once('exit', resolve))
  gateway.process.kill('SIGTERM')
  await exited
}

async function post(gateway: Gateway, key: string, txn: Transaction) {
  const response = await fetch(`${gateway.url}/v1/transactions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(txn),
  })
  const text = await response.text()
  let body: Record<string, unknown> = { text }
  try {
    body = JSON.parse(text) as Record<string, unknown>
  } catch {
    // kept as text: the status says enough
  }
  return { status: response.status, body }
}

/** The contract over the served app's WebSocket, as its page speaks it, from outside the page. */
async function contractOf(app: ServedApp) {
  const served = new URL(app.url)
  const websocket = new WebSocket(`ws://${served.host}/rpc?token=${served.searchParams.get('token') ?? ''}`, {
    headers: { Origin: served.origin },
  })
  await new Promise((resolve, reject) => {
    websocket.once('open', resolve)
    websocket.once('error', reject)
  })
  const client: ContractRouterClient<Contract> = createORPCClient(
    new RPCLink({ websocket: websocket as unknown as globalThis.WebSocket }),
  )
  return { client, close: () => websocket.close() }
}

const payment = (userId: string): Transaction => ({
  txn_id: randomUUID(),
  ts: new Date().toISOString(),
  user_id: userId,
  counterparty_id: 'M-shop-1',
  type: 'PAYMENT',
  amount: '42.00',
  currency: 'USD',
})

const apiKeysPanel = (page: Page) => page.getByTestId('api-keys-panel')
const gridRow = (transactions: TransactionsPage, userId: string): Locator =>
  transactions.rows().filter({ hasText: userId })

test.describe.configure({ timeout: 240_000 })

test.beforeAll(async () => {
  ;[database, redis] = await Promise.all([createTestDatabase('aether_e2e_gateway'), startPrivateRedis()])
  owner = openPostgresStore({ connectionString: database.url })
  await migrateToLatest(owner)
  gatewayUrl = await gatewayLogin()
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

test('an admin’s key sends a transaction through a gateway: decided, shown live with the key’s name, a block opens a case', async ({
  page,
  app,
}) => {
  const ada = await addAnalyst('Ada', 'admin')
  const shell = await signIn(page, app, ada)

  // No gateway yet: the Dashboard says so plainly.
  await shell.open('dashboard')
  await expect(page.getByTestId('gateways-empty')).toHaveText('No gateway has reported in the last minute.')

  // Settings → API keys: create one, shown once with a warning.
  await shell.open('settings')
  const panel = apiKeysPanel(page)
  await expect(panel).toBeVisible()
  const form = panel.getByTestId('create-api-key-form')
  await form.getByLabel(/^Name/).fill('checkout web')
  await form.getByRole('button', { name: 'Create key' }).click()
  await expect(panel.getByTestId('field-error-key-name')).toContainText('no spaces')
  await form.getByLabel(/^Name/).fill('checkout-web')
  await form.getByLabel('Read decisions').uncheck()
  await form.getByRole('button', { name: 'Create key' }).click()
  const shown = panel.getByTestId('new-api-key')
  await expect(shown).toContainText('cannot be shown again')
  const key = (await shown.getByTestId('new-api-key-secret').textContent())?.trim() ?? ''
  expect(key).toMatch(/^aek_\d+_[A-Za-z0-9_-]{43}$/)
  const row = panel.getByTestId('api-key-row-checkout-web')
  await expect(row).toContainText('Send transactions')
  await expect(row).toContainText('never used')
  await shell.screenshot('settings-api-key-created')
  await shown.getByRole('button', { name: 'Done' }).click()
  await expect(panel.getByTestId('new-api-key')).toHaveCount(0)
  await expect(panel).not.toContainText(key)

  const gateway = await startGateway()
  try {
    // Ready once the workstation's worker owns the partitions the gateway writes to.
    await expect
      .poll(async () => (await fetch(`${gateway.url}/readyz`)).status, { timeout: 90_000 })
      .toBe(200)

    const transactions = new TransactionsPage(page)
    await shell.open('transactions')

    const payer = `C-gw-${randomUUID().slice(0, 8)}`
    const approved = await post(gateway, key, payment(payer))
    expect(approved.status, JSON.stringify(approved.body)).toBe(200)
    expect(approved.body).toMatchObject({ decision: 'approve', final: true })

    // A transfer that empties the account and leaves the recipient's balance as it was: blocked.
    const fraudster = `C-gw-${randomUUID().slice(0, 8)}`
    const blocked = await post(gateway, key, {
      txn_id: randomUUID(),
      ts: new Date().toISOString(),
      user_id: fraudster,
      counterparty_id: 'C-mule-1',
      type: 'TRANSFER',
      amount: '25000.00',
      currency: 'USD',
      balance_before: '25000.00',
      balance_after: '0.00',
      cp_balance_before: '0.00',
      cp_balance_after: '0.00',
    })
    expect(blocked.status, JSON.stringify(blocked.body)).toBe(200)
    expect(blocked.body).toMatchObject({ decision: 'block', final: true })

    // The block's alert reaches the open grid (LISTEN/NOTIFY), which reloads: both rows, with the key.
    await expect(gridRow(transactions, fraudster)).toContainText('checkout-web', { timeout: 60_000 })
    await expect(gridRow(transactions, payer)).toContainText('checkout-web')
    await gridRow(transactions, fraudster).click()
    await expect(transactions.detail.getByTestId('sent-by')).toHaveText('API key checkout-web')
    await shell.screenshot('transactions-sent-by')

    const cases = new CasesPage(page)
    await shell.open('cases')
    await expect(cases.row(fraudster)).toBeVisible({ timeout: 60_000 })

    // The Dashboard shows the gateway alive, with the requests it answered.
    await shell.open('dashboard')
    const gatewayRow = page.getByTestId('gateway-row')
    await expect(gatewayRow).toHaveAttribute('data-alive', 'true', { timeout: 30_000 })
    await expect(gatewayRow).toContainText(gateway.url)
    await shell.screenshot('dashboard-gateways')

    // Last use reaches Settings (the gateway writes it every few seconds).
    await shell.open('settings')
    await expect(apiKeysPanel(page).getByTestId('api-key-row-checkout-web')).not.toContainText('never used', {
      timeout: 30_000,
    })

    // Revoked after a confirmation: the gateway refuses the key from then on.
    const keyRow = apiKeysPanel(page).getByTestId('api-key-row-checkout-web')
    await keyRow.getByRole('button', { name: 'Revoke' }).click()
    const confirm = keyRow.getByRole('group', { name: 'Confirm revoking checkout-web' })
    await expect(confirm).toContainText('cannot be undone')
    await confirm.getByRole('button', { name: 'Revoke key' }).click()
    await expect(keyRow).toHaveAttribute('data-revoked', 'true')
    await expect(keyRow).toContainText('Revoked')
    await expect
      .poll(async () => (await post(gateway, key, { ...payment(payer), txn_id: randomUUID() })).status, {
        timeout: 10_000,
      })
      .toBe(401)
  } finally {
    await stopGateway(gateway)
  }
})

test('an analyst who is not an admin sees no API keys, and the workstation refuses them the calls', async ({
  page,
  app,
}) => {
  const nick = await addAnalyst('Nick', 'analyst')
  const shell = await signIn(page, app, nick)
  await shell.open('settings')
  // Once the session says who they are, the analysts' own part of Settings is there, and no API keys.
  await expect(page.getByTestId('session-summary')).toContainText('Analyst')
  await expect(page.getByTestId('session-panel')).toBeVisible()
  await expect(apiKeysPanel(page)).toHaveCount(0)

  // The same workstation, called the way its page calls it: refused by the main process.
  const { client, close } = await contractOf(app)
  try {
    for (const call of [
      () => client.apiKeys.list(),
      () => client.apiKeys.create({ name: 'from-an-analyst', scopes: ['submit'] }),
    ]) {
      const error = await call().then(
        () => undefined,
        (failure: unknown) => failure,
      )
      expect(error).toBeInstanceOf(ORPCError)
      expect(error).toMatchObject({
        code: 'FORBIDDEN',
        message: 'Only administrators manage API keys; this account is not one.',
      })
    }
  } finally {
    close()
  }
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM api_keys WHERE name = 'from-an-analyst'`.execute(owner.db)
  expect(rows[0]?.n).toBe(0)
})
