import { lazy, Suspense, useEffect, type ReactElement } from 'react'
import type { AppStatus } from '../../../shared/contract'
import { AlertNotifier } from '../features/cases/AlertNotifier'
import { findArea, type AreaId } from './areas'
import { LoadingSkeleton } from './LoadingSkeleton'
import { Rail } from './Rail'
import type { ThemePreference } from './theme'
import { TopBar } from './TopBar'

// Each page loads with its first visit, so the first paint does not carry every page's grid and charts.
const TransactionsPage = lazy(() =>
  import('../features/transactions/TransactionsPage').then((m) => ({ default: m.TransactionsPage })),
)
const CasesPage = lazy(() => import('../features/cases/CasesPage').then((m) => ({ default: m.CasesPage })))
const DashboardPage = lazy(() =>
  import('../features/dashboard/DashboardPage').then((m) => ({ default: m.DashboardPage })),
)
const DatasetsPage = lazy(() =>
  import('../features/datasets/DatasetsPage').then((m) => ({ default: m.DatasetsPage })),
)
const RulesPage = lazy(() => import('../features/rules/RulesPage').then((m) => ({ default: m.RulesPage })))
const ListsPage = lazy(() => import('../features/lists/ListsPage').then((m) => ({ default: m.ListsPage })))
const SettingsPage = lazy(() =>
  import('../features/settings/SettingsPage').then((m) => ({ default: m.SettingsPage })),
)

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
        <Suspense
          fallback={<LoadingSkeleton label={`Loading ${findArea(area)?.label ?? 'the page'}`} rows={6} />}
        >
          {AREA_PAGES[area]}
        </Suspense>
      </main>
      <AlertNotifier />
    </div>
  )
}
