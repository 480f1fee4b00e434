import { useEffect, type ReactElement } from 'react'
import type { AppStatus } from '../../../shared/contract'
import { AlertNotifier } from '../features/cases/AlertNotifier'
import { CasesPage } from '../features/cases/CasesPage'
import { DashboardPage } from '../features/dashboard/DashboardPage'
import { DatasetsPage } from '../features/datasets/DatasetsPage'
import { ListsPage } from '../features/lists/ListsPage'
import { RulesPage } from '../features/rules/RulesPage'
import { SettingsPage } from '../features/settings/SettingsPage'
import { TransactionsPage } from '../features/transactions/TransactionsPage'
import { findArea, type AreaId } from './areas'
import { Rail } from './Rail'
import type { ThemePreference } from './theme'
import { TopBar } from './TopBar'

const AREA_PAGES: Record<AreaId, ReactElement> = {
  transactions: <TransactionsPage />,
  cases: <CasesPage />,
  dashboard: <DashboardPage />,
  datasets: <DatasetsPage />,
  rules: <RulesPage />,
  lists: <ListsPage />,
  settings: <SettingsPage />,
}

interface AppFrameProps {
  area: AreaId
  onOpenArea: (area: AreaId) => void
  status: AppStatus
  /** The workstation's error, shown above the page when the analyst went to Settings to fix it. */
  problem: string | undefined
  theme: ThemePreference
  onThemeChange: (theme: ThemePreference) => void
  onHelp: () => void
}

export function AppFrame({ area, onOpenArea, status, problem, theme, onThemeChange, onHelp }: AppFrameProps) {
  useEffect(() => {
    document.title = `${findArea(area)?.label ?? ''} · Aether Workstation`
  }, [area])

  return (
    <div className="app-frame">
      <TopBar status={status} theme={theme} onThemeChange={onThemeChange} onHelp={onHelp} />
      <Rail active={area} onOpen={onOpenArea} />
      <main className="work-area">
        {problem && (
          <p className="banner banner-error" role="alert" data-testid="status-banner">
            {problem}
          </p>
        )}
        {AREA_PAGES[area]}
      </main>
      <AlertNotifier />
    </div>
  )
}
