import { fileURLToPath } from 'node:url'
import { RPCHandler } from '@orpc/server/message-port'
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  screen,
  session,
  type IpcMainEvent,
  type IpcMainInvokeEvent,
  type MenuItemConstructorOptions,
  type OpenDialogOptions,
} from 'electron'
import { DATASET_FILE_FILTERS, PICK_DATASET_FILE_CHANNEL } from '../shared/desktop-shell'
import { createRouter } from './core/router'
import { APP_VERSION } from './core/version'
import { Workstation } from './core/workstation'
import { KeychainSecrets } from './secrets/keychain'
import { loadWindowState, saveWindowState } from './window-state'

/**
 * The Electron shell, kept thin: windows, menu, hardening and IPC wiring. Everything the app does
 * lives in main/core, served to the renderer through the contract.
 */

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
  "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const devServerUrl = process.env.ELECTRON_RENDERER_URL
const rendererUrl = devServerUrl ?? new URL('../renderer/index.html', import.meta.url).toString()
const isAppUrl = (url: string) => {
  try {
    const target = new URL(url)
    const appUrl = new URL(rendererUrl)
    return target.origin === appUrl.origin && target.pathname === appUrl.pathname
  } catch {
    return false
  }
}

// Tests and portable installs point the app at their own user-data folder, as the CLI does.
if (process.env.AETHER_DATA_DIR) app.setPath('userData', process.env.AETHER_DATA_DIR)
if (!app.requestSingleInstanceLock()) app.quit()
// Every renderer, including any created later, runs in the OS sandbox.
app.enableSandbox()

/** Only our own page, in the main frame of our own window, may speak to the main process. */
function fromOurPage(event: IpcMainEvent | IpcMainInvokeEvent): boolean {
  const frame = event.senderFrame
  return frame !== null && frame === event.sender.mainFrame && isAppUrl(frame.url)
}

/** The system's file dialog for a dataset, over our window: one path, or null when it was closed. */
async function pickDatasetFile(event: IpcMainInvokeEvent): Promise<string | null> {
  if (!fromOurPage(event)) return null
  const options: OpenDialogOptions = {
    title: 'Open a dataset',
    properties: ['openFile'],
    filters: [...DATASET_FILE_FILTERS],
  }
  const window = BrowserWindow.fromWebContents(event.sender)
  const chosen =
    window === null ? await dialog.showOpenDialog(options) : await dialog.showOpenDialog(window, options)
  return chosen.canceled ? null : (chosen.filePaths[0] ?? null)
}

let workstation: Workstation | undefined
let mainWindow: BrowserWindow | undefined

function createWindow(dataDir: string) {
  const state = loadWindowState(dataDir)
  const visible = screen
    .getAllDisplays()
    .some(
      ({ workArea }) =>
        state.x !== undefined &&
        state.y !== undefined &&
        state.x < workArea.x + workArea.width &&
        state.y < workArea.y + workArea.height &&
        state.x + state.width > workArea.x &&
        state.y + state.height > workArea.y,
    )
  const window = new BrowserWindow({
    width: state.width,
    height: state.height,
    ...(visible ? { x: state.x, y: state.y } : {}),
    minWidth: 960,
    minHeight: 600,
    show: false,
    title: 'Aether Workstation',
    webPreferences: {
      preload: fileURLToPath(new URL('../preload/index.cjs', import.meta.url)),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  })
  if (state.maximized) window.maximize()
  window.once('ready-to-show', () => window.show())
  window.on('close', () => {
    const bounds = window.getNormalBounds()
    saveWindowState(dataDir, { ...bounds, maximized: window.isMaximized() })
  })
  void window.loadURL(rendererUrl)
  return window
}

function buildMenu() {
  const template: MenuItemConstructorOptions[] = [
    ...(process.platform === 'darwin' ? [{ role: 'appMenu' as const }] : []),
    { role: 'fileMenu' },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [
        { role: 'reload' },
        ...(app.isPackaged ? [] : [{ role: 'toggleDevTools' as const }]),
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
      ],
    },
    { role: 'windowMenu' },
    {
      role: 'help',
      submenu: [{ label: `Aether Workstation ${APP_VERSION}`, enabled: false }],
    },
  ]
  Menu.setApplicationMenu(Menu.buildFromTemplate(template))
}

function harden() {
  // No navigation away from the app, no new windows, no permissions but notifications.
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (event, url) => {
      if (!isAppUrl(url)) event.preventDefault()
    })
    contents.on('will-attach-webview', (event) => event.preventDefault())
    // The app links out to nothing; a link that tries opens nowhere.
    contents.setWindowOpenHandler(() => ({ action: 'deny' }))
  })
  const allowed = (permission: string) => permission === 'notifications'
  session.defaultSession.setPermissionRequestHandler((_contents, permission, callback) =>
    callback(allowed(permission)),
  )
  session.defaultSession.setPermissionCheckHandler((_contents, permission) => allowed(permission))
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } })
  })
}

async function start() {
  await app.whenReady()
  const dataDir = app.getPath('userData')
  harden()
  buildMenu()
  workstation = new Workstation({ dataDir, secrets: new KeychainSecrets(), version: APP_VERSION })
  const handler = new RPCHandler(createRouter(workstation))
  ipcMain.on('aether:connect', (event) => {
    if (!fromOurPage(event)) return
    const [port] = event.ports
    if (port === undefined) return
    handler.upgrade(port)
    port.start()
  })
  ipcMain.handle(PICK_DATASET_FILE_CHANNEL, pickDatasetFile)
  void workstation.start()
  mainWindow = createWindow(dataDir)
  app.on('second-instance', () => {
    if (mainWindow?.isMinimized()) mainWindow.restore()
    mainWindow?.focus()
  })
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) mainWindow = createWindow(dataDir)
  })
}

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit()
})

app.on('will-quit', (event) => {
  if (workstation === undefined) return
  event.preventDefault()
  const closing = workstation
  workstation = undefined
  void closing.close().finally(() => app.quit())
})

void start()
