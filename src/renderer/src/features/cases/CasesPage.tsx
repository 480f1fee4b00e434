import { EmptyState } from '../../app/EmptyState'
import { Page } from '../../app/Page'

export function CasesPage() {
  return (
    <Page title="Cases">
      <EmptyState title="No cases — the queue is clear">
        A case opens here when a scored transaction raises an alert above the review threshold.
      </EmptyState>
    </Page>
  )
}
