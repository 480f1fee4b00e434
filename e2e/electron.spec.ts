import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { _electron as electron, expect, test, type ElectronApplication } from '@playwright/test'
import { AppShell } from './pages/app-shell'
import { DatasetsPage } from './pages/datasets-page'

/**
 * The desktop shell itself. The Electron binary is downloaded on first use; where that cannot happen
 * (this CI machine has no route to its host) the spec reports itself skipped, saying why.
 */
function electronBinary(): { path?: string; reason?: string } {
  const probe = spawnSync(process.execPath, ['-e', "process.stdout.write(require('electron'))"], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  if (probe.status === 0 && probe.stdout !== '') return { path: probe.stdout }
  const lines = probe.stderr.split('\n').map((line) => line.trim())
  const reason =
    lines.find((line) => /^(Error|RequestError|HTTPError)|failed to install/i.test(line)) ?? lines[0]
  return { reason: (reason ?? `exit ${probe.status}`).slice(0, 200) }
}

const binary = electronBinary()
if (binary.path === undefined)
  console.log(`electron e2e: SKIPPED — the Electron binary is not available here (${binary.reason})`)

test.describe('the Electron desktop app', () => {
  test.skip(binary.path === undefined, `Electron binary not available on this machine: ${binary.reason}`)

  /** The desktop app on a fresh user-data folder; closed and removed after `use`. */
  async function withDesktopApp(use: (app: ElectronApplication) => Promise<void>) {
    const dataDir = await mkdtemp(join(tmpdir(), 'aether-electron-'))
    const app = await electron.launch({
      executablePath: binary.path,
      args: ['.', `--user-data-dir=${dataDir}`],
      env: { ...process.env, AETHER_DATA_DIR: dataDir },
    })
    try {
      await use(app)
    } finally {
      await app.close()
      await rm(dataDir, { recursive: true, force: true })
    }
  }

  test('opens hardened, in Local mode, ready', async () => {
    await withDesktopApp(async (app) => {
      const page = await app.firstWindow()
      const shell = new AppShell(page)
      await shell.waitUntilReady()
      await expect(shell.modeIndicator).toContainText('Local')
      const exposed = await page.evaluate(() => ({
        require: typeof (globalThis as { require?: unknown }).require,
        process: typeof (globalThis as { process?: unknown }).process,
        ipcRenderer: typeof (globalThis as { ipcRenderer?: unknown }).ipcRenderer,
        shell: Object.keys((globalThis as { aetherShell?: object }).aetherShell ?? {}),
      }))
      // The transport, the file dialog and a dropped file's path: nothing else.
      expect(exposed).toEqual({
        require: 'undefined',
        process: 'undefined',
        ipcRenderer: 'undefined',
        shell: ['transport', 'pickDatasetFile', 'pathForDroppedFile'],
      })
      const opened = await page.evaluate(() => window.open('https://example.com/') === null)
      expect(opened).toBe(true)
      expect(app.windows()).toHaveLength(1)
    })
  })

  test('opens a dataset from the file dialog; a dropped file needs to be on disk', async () => {
    const sample = resolve('resources/paysim-first-20k.csv')
    await withDesktopApp(async (app) => {
      // The system's dialog cannot be driven from here: answer it as an analyst choosing the sample would.
      await app.evaluate(({ dialog }, path) => {
        dialog.showOpenDialog = (() =>
          Promise.resolve({ canceled: false, filePaths: [path] })) as typeof dialog.showOpenDialog
      }, sample)
      const page = await app.firstWindow()
      const shell = new AppShell(page)
      await shell.waitUntilReady()
      await shell.open('datasets')
      const datasets = new DatasetsPage(page)
      await expect(datasets.dropZone).toBeVisible()
      await datasets.chooseFile.click()
      await datasets.expectImport('done')
      await expect(datasets.path).toHaveValue(sample)
      await expect(datasets.importStatus).toContainText('19,999 rows')
      // A file made in the page has no path: the real webUtils says so, and the panel tells the analyst.
      await datasets.dropFile('paysim.csv', 'step,type\n')
      await expect(datasets.dropNote).toHaveText(
        'paysim.csv is not a file on this computer; save it to a folder first.',
      )
    })
  })
})
