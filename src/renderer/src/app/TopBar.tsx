import type { AppStatus } from '../../../shared/contract'
import { transport } from '../api/client'
import { SignedInAnalyst } from '../features/settings/SignedInAnalyst'
import type { ThemePreference } from './theme'
import { ThemeSwitcher } from './ThemeSwitcher'

type Store = AppStatus['store']

const ENGINE_LABELS: Record<Store['engine'], string> = { pglite: 'PGlite', postgresql: 'PostgreSQL' }

const TRANSPORT_LABELS = {
  ipc: { label: 'IPC', title: 'Connected to the workstation over Electron IPC' },
  websocket: { label: 'WebSocket', title: 'Connected to the workstation over its loopback WebSocket host' },
}

function modeText(status: AppStatus): string {
  return status.mode === 'local' ? 'Local · embedded store' : `Team · ${status.profileName}`
}

/** Migration names sort in applying order, so comparing them tells behind from ahead. */
function schemaState({ schemaVersion, latestSchemaVersion }: Store) {
  if (schemaVersion === null) return { state: 'missing', text: 'no schema yet' }
  if (schemaVersion === latestSchemaVersion) return { state: 'current', text: `schema ${schemaVersion}` }
  if (schemaVersion < latestSchemaVersion)
    return { state: 'behind', text: `schema ${schemaVersion}, ${latestSchemaVersion} not applied` }
  return { state: 'ahead', text: `schema ${schemaVersion} is newer than this app` }
}

interface TopBarProps {
  status: AppStatus
  theme: ThemePreference
  onThemeChange: (theme: ThemePreference) => void
  onHelp: () => void
}

export function TopBar({ status, theme, onThemeChange, onHelp }: TopBarProps) {
  const schema = schemaState(status.store)
  const link = TRANSPORT_LABELS[transport]
  return (
    <header className="top-bar">
      <span className="product-name">Aether Workstation</span>
      <span className="mode-indicator" data-testid="mode-indicator" data-mode={status.mode}>
        {modeText(status)}
      </span>
      <span className="store-state" data-testid="store-state" data-schema-state={schema.state}>
        {ENGINE_LABELS[status.store.engine]} · {schema.text}
      </span>
      <SignedInAnalyst status={status} />
      <span className="top-bar-spacer" />
      <span className="subtle" data-testid="transport" title={link.title}>
        {link.label} · v{status.version}
      </span>
      <button
        type="button"
        className="button icon"
        onClick={onHelp}
        aria-keyshortcuts="?"
        title="Keyboard shortcuts (?)"
      >
        <span aria-hidden="true">?</span>
        <span className="visually-hidden">Keyboard shortcuts</span>
      </button>
      <ThemeSwitcher preference={theme} onChange={onThemeChange} />
    </header>
  )
}
