import { EmptyState } from '../../app/EmptyState'
import { Page } from '../../app/Page'

export function ListsPage() {
  return (
    <Page title="Lists">
      <EmptyState title="No lists yet">
        Allow and block lists of accounts, devices and merchants, consulted while scoring, are kept here.
      </EmptyState>
    </Page>
  )
}
