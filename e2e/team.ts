import type { Page } from '@playwright/test'
import { sql } from 'kysely'
import { scramVerifier } from '../src/main/security/scram'
import type { Store } from '../src/main/store/store'
import { uniqueName } from '../test/support/services'
import { expect, type ServedApp } from './fixtures'
import { AppShell } from './pages/app-shell'
import { SettingsPage } from './pages/settings-page'

/**
 * Adds an analyst login to the team database as its owner, with the ingest right (their desk runs the
 * team's pipeline worker with their login, as every analyst's machine may). Returns the login; the
 * caller drops it after its tests.
 */
export async function addTeamAnalyst(
  owner: Store,
  name: string,
  role: 'analyst' | 'admin' = 'analyst',
): Promise<string> {
  const login = uniqueName(name.toLowerCase()).slice(0, 60)
  await sql`SELECT aether_add_analyst(${login}, ${name}, ${role}, ${scramVerifier('trust-auth-ignores-it')})`.execute(
    owner.db,
  )
  await sql`SELECT aether_set_analyst_ingest(${login}, true)`.execute(owner.db)
  return login
}

/** Opens the workstation and switches it to a Team profile of this login on the team's database and Redis. */
export async function signInToTeam(
  page: Page,
  app: ServedApp,
  team: { databaseUrl: string; redisUrl: string },
  login: string,
): Promise<AppShell> {
  const shell = new AppShell(page)
  const settings = new SettingsPage(page)
  await page.goto(app.url)
  await shell.waitUntilReady()
  await shell.open('settings')
  const url = new URL(team.databaseUrl)
  url.username = login
  await settings.fill({ name: 'Team', postgresUrl: url.toString(), redisUrl: team.redisUrl })
  await settings.save()
  await settings
    .profileRow('Team')
    .getByRole('button', { name: /switch/i })
    .click()
  await expect(shell.modeIndicator).toContainText('Team')
  await shell.waitUntilReady()
  return shell
}
