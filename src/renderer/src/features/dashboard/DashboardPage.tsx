import { EmptyState } from '../../app/EmptyState'
import { Page } from '../../app/Page'

export function DashboardPage() {
  return (
    <Page title="Dashboard">
      <EmptyState title="No pipeline activity to chart yet">
        Volume, score mix, ingest lag and dead letters are charted here once transactions flow through the
        pipeline.
      </EmptyState>
    </Page>
  )
}
