import { useCallback, useEffect, useState } from 'react'
import { AppFrame } from './app/AppFrame'
import { ErrorState } from './app/ErrorState'
import { KeyboardHelp } from './app/KeyboardHelp'
import { LoadingSkeleton } from './app/LoadingSkeleton'
import { useAppStatus } from './app/useAppStatus'
import { openArea, useArea } from './app/useArea'
import { useGlobalShortcuts } from './app/useGlobalShortcuts'
import { useThemePreference } from './app/theme'

export function App() {
  const app = useAppStatus()
  const area = useArea()
  const [theme, setTheme] = useThemePreference()
  const [helpOpen, setHelpOpen] = useState(false)
  const openHelp = useCallback(() => setHelpOpen(true), [])
  useGlobalShortcuts(openArea, openHelp)

  useEffect(() => {
    document.documentElement.dataset.appState = app.state
  }, [app.state])

  const { status, problem } = app
  // Settings stays usable while the store is in error: it is where the analyst fixes or leaves the profile.
  const settingsCanHelp = status !== undefined && !app.hostLost
  const showFrame =
    status !== undefined && (problem ? settingsCanHelp && area === 'settings' : app.state === 'ready')

  return (
    <div className="app-shell" data-app-state={app.state} data-testid="app-shell">
      {showFrame ? (
        <AppFrame
          area={area}
          onOpenArea={openArea}
          status={status}
          problem={problem?.message}
          theme={theme}
          onThemeChange={setTheme}
          onHelp={openHelp}
        />
      ) : problem ? (
        <ErrorState fullWindow title={problem.title} message={problem.message} onRetry={app.retry}>
          {settingsCanHelp && (
            <button type="button" className="button" onClick={() => openArea('settings')}>
              Open Settings
            </button>
          )}
        </ErrorState>
      ) : (
        <div className="full-window">
          <p className="startup-note">Starting Aether Workstation…</p>
          <LoadingSkeleton label="Starting the workstation" rows={6} />
        </div>
      )}
      {helpOpen && <KeyboardHelp onClose={() => setHelpOpen(false)} />}
    </div>
  )
}
