import { homedir } from 'node:os'
import { join } from 'node:path'

export const APP_DIR_NAME = 'aether-workstation'

/**
 * The user-data folder, the same one Electron's app.getPath('userData') gives for this app, so the
 * desktop app, `aether serve` and the CLI share profiles and the embedded store.
 * AETHER_DATA_DIR overrides it (tests, portable installs).
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AETHER_DATA_DIR) return env.AETHER_DATA_DIR
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', APP_DIR_NAME)
  if (process.platform === 'win32')
    return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), APP_DIR_NAME)
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), APP_DIR_NAME)
}
