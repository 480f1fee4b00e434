import { EmptyState } from '../../app/EmptyState'
import { Page } from '../../app/Page'

export function RulesPage() {
  return (
    <Page title="Rules">
      <EmptyState title="No scoring rules to show yet">
        The rules that score each transaction, with their thresholds and how often they fire, are managed
        here.
      </EmptyState>
    </Page>
  )
}
