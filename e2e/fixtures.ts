import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test as base } from '@playwright/test'
import { AppShell } from './pages/app-shell'
import { SettingsPage } from './pages/settings-page'

export interface ServedApp {
  url: string
  dataDir: string
  process: ChildProcess
}

/** Starts `aether serve` on a fresh user-data folder and its own keychain service; resolves with its URL. */
export async function serveApp(): Promise<ServedApp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'aether-e2e-'))
  const child = spawn(process.execPath, ['bin/aether.js', 'serve', '--port', '0', '--data-dir', dataDir], {
    env: { ...process.env, AETHER_KEYCHAIN_SERVICE: `aether-e2e-${process.pid}-${Date.now()}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  // Generous: a busy 2-core machine starting two servers at once (Local mode opens PGlite) needs it.
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`aether serve did not start:\n${output}`)), 90_000)
    const read = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /(http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(output)
      if (match?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(match[1])
      }
    }
    child.stdout.on('data', read)
    child.stderr.on('data', read)
    child.once('exit', (code) => reject(new Error(`aether serve exited with ${code}:\n${output}`)))
  }).catch(async (error: unknown) => {
    // A server that never said its URL is not left running, nor its folder behind.
    if (child.exitCode === null) child.kill('SIGKILL')
    await rm(dataDir, { recursive: true, force: true })
    throw error
  })
  return { url, dataDir, process: child }
}

export async function stopApp(app: ServedApp) {
  if (app.process.exitCode === null) {
    const exited = new Promise((resolve) => app.process.once('exit', resolve))
    app.process.kill('SIGTERM')
    await exited
  }
  await rm(app.dataDir, { recursive: true, force: true })
}

export const test = base.extend<{ app: ServedApp; shell: AppShell; settings: SettingsPage }>({
  // Its own timeout, so a slow start does not eat the test's.
  app: [
    async ({}, use) => {
      const app = await serveApp()
      await use(app)
      await stopApp(app)
    },
    { timeout: 120_000 },
  ],
  shell: async ({ page, app }, use) => {
    await page.goto(app.url)
    await use(new AppShell(page))
  },
  settings: async ({ page }, use) => {
    await use(new SettingsPage(page))
  },
})

export { expect } from '@playwright/test'
