import { EmptyState } from '../../app/EmptyState'
import { Page } from '../../app/Page'

export function DatasetsPage() {
  return (
    <Page title="Datasets">
      <EmptyState title="No datasets imported">
        PaySim files (CSV or Parquet) imported for analysis and rule backtests are listed here.
      </EmptyState>
    </Page>
  )
}
