import { spawnSync } from 'node:child_process'
import { createTestDatabase, type TestDatabase } from '../test/support/services'
import { startPrivatePostgres } from '../test/support/private-servers'
import { expect, test } from './fixtures'

test.describe('first start and connection profiles', () => {
  let database: TestDatabase

  test.beforeAll(() => {
    return createTestDatabase('aether_e2e').then((created) => {
      database = created
      const migrate = spawnSync(process.execPath, ['bin/aether.js', 'migrate', '--url', created.url], {
        encoding: 'utf8',
      })
      expect(migrate.status, migrate.stderr).toBe(0)
      expect(migrate.stdout).toMatch(/Applied 0001_initial/)
    })
  })

  test.afterAll(async () => {
    await database.drop()
  })

  test('opens in Local mode, ready, on the embedded store', async ({ shell, page }) => {
    await shell.waitUntilReady()
    await expect(shell.modeIndicator).toContainText('Local')
    await shell.screenshot('local-ready')
    // The launch's token leaves the address bar, and a reload still reaches the host (the tab keeps it).
    expect(page.url()).not.toContain('token=')
    await page.reload()
    await shell.waitUntilReady()
    await expect(shell.modeIndicator).toContainText('Local')
    // A tab opened on the bare address (a bookmark) has no token: it says where to get one.
    const other = await page.context().newPage()
    await other.goto(new URL(page.url()).origin)
    await expect(other.getByText('open the URL that `aether serve` printed')).toBeVisible()
    await other.close()
  })

  test('creates a Team profile for the local PostgreSQL and Redis, tests it green, and switches to it', async ({
    shell,
    settings,
  }) => {
    await shell.waitUntilReady()
    await shell.open('settings')
    await settings.fill({ name: 'Team', postgresUrl: database.url, redisUrl: 'redis://127.0.0.1:6379' })
    await settings.testConnection()
    await settings.expectCheck('postgres', true, /PostgreSQL \d+/)
    await settings.expectCheck('redis', true, /Redis \d+/)
    await shell.screenshot('settings-team-profile')
    await settings.save()
    const row = settings.profileRow('Team')
    await expect(row).toBeVisible()
    await row.getByRole('button', { name: /switch/i }).click()
    await expect(shell.modeIndicator).toContainText('Team')
    await shell.waitUntilReady()
    await shell.screenshot('team-mode')
  })

  test('explains a bad field next to the field', async ({ shell, settings }) => {
    await shell.waitUntilReady()
    await shell.open('settings')
    await settings.fill({ name: 'Broken', postgresUrl: 'mysql://db', redisUrl: 'redis://127.0.0.1:6379' })
    await settings.save()
    await expect(settings.fieldError('postgresUrl')).toContainText('PostgreSQL URL')
    await expect(settings.profileRow('Broken')).toHaveCount(0)
  })
})

test.describe('a team PostgreSQL with password authentication', () => {
  let server: Awaited<ReturnType<typeof startPrivatePostgres>>

  test.beforeAll(async () => {
    server = await startPrivatePostgres({ password: 'right-horse-battery' })
  })

  test.afterAll(async () => {
    await server.stop()
  })

  test('a wrong password shows the precise error', async ({ shell, settings }) => {
    await shell.waitUntilReady()
    await shell.open('settings')
    await settings.fill({
      name: 'Team (wrong password)',
      postgresUrl: server.url,
      postgresPassword: 'wrong-password',
      redisUrl: 'redis://127.0.0.1:6379',
    })
    await settings.testConnection()
    await settings.expectCheck('postgres', false, /rejected the password for user "postgres"/)
    await settings.expectCheck('redis', true)
    await shell.screenshot('settings-wrong-password')
  })
})
