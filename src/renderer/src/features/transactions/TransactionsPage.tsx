import { EmptyState } from '../../app/EmptyState'
import { Page } from '../../app/Page'

export function TransactionsPage() {
  return (
    <Page title="Transactions">
      <EmptyState title="No transactions yet">
        They appear here once the ingestion worker scores them, each with its score and the reasons behind it.
      </EmptyState>
    </Page>
  )
}
