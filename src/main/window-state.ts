import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'

const WindowState = z.object({
  x: z.number().int().optional(),
  y: z.number().int().optional(),
  width: z.number().int().min(640),
  height: z.number().int().min(480),
  maximized: z.boolean(),
})
export type WindowState = z.infer<typeof WindowState>

const DEFAULT_STATE: WindowState = { width: 1440, height: 900, maximized: false }

/** Remembers the window's place and size between launches, in the user-data folder. */
export function loadWindowState(dataDir: string): WindowState {
  try {
    const parsed = WindowState.safeParse(JSON.parse(readFileSync(join(dataDir, 'window-state.json'), 'utf8')))
    return parsed.success ? parsed.data : DEFAULT_STATE
  } catch {
    return DEFAULT_STATE
  }
}

export function saveWindowState(dataDir: string, state: WindowState): void {
  try {
    writeFileSync(join(dataDir, 'window-state.json'), JSON.stringify(state))
  } catch (error) {
    console.error('[aether] could not remember the window state:', error)
  }
}
