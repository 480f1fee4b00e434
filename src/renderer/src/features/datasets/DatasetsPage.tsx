import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect, useMemo, useState } from 'react'
import type { Dataset, FilterModel, GridSource } from '../../../../shared/datasets-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { EmptyState } from '../../app/EmptyState'
import { ErrorState } from '../../app/ErrorState'
import { LoadingSkeleton } from '../../app/LoadingSkeleton'
import { Page } from '../../app/Page'
import { AnalysesView } from './AnalysesView'
import { BacktestView } from './BacktestView'
import { formatBytes, formatCount, formatTimeZoned, timeTitle } from './format'
import { onDatasetReady } from './importStore'
import { OpenDatasetPanel } from './OpenDatasetPanel'
import { QualityReportView } from './QualityReportView'
import { RowsView } from './RowsView'
import { SqlConsole } from './SqlConsole'

const TABS = [
  { id: 'quality', label: 'Quality', paysim: false },
  { id: 'rows', label: 'Rows', paysim: false },
  { id: 'analyses', label: 'Analyses', paysim: true },
  { id: 'sql', label: 'SQL', paysim: false },
  { id: 'backtest', label: 'Backtest', paysim: true },
] as const
type Tab = (typeof TABS)[number]['id']

const DATASET_SOURCE: GridSource = { kind: 'dataset' }
const NO_FILTER: FilterModel = {}

const STATE_LABELS = { current: '', changed: 'file changed', missing: 'file gone' } as const

function DatasetList({
  datasets,
  selectedId,
  onSelect,
}: {
  datasets: Dataset[]
  selectedId: string | undefined
  onSelect: (id: string) => void
}) {
  if (datasets.length === 0)
    return (
      <EmptyState title="No datasets yet">
        Open a PaySim file (CSV, CSV.gz or Parquet) by its path, or the bundled sample, to investigate it
        here.
      </EmptyState>
    )
  return (
    <ul className="ds-list" aria-label="Imported datasets">
      {datasets.map((dataset) => (
        <li key={dataset.id}>
          <button
            type="button"
            className="ds-list-item"
            aria-current={dataset.id === selectedId ? 'true' : undefined}
            onClick={() => onSelect(dataset.id)}
            data-testid={`dataset-${dataset.name}`}
          >
            <span className="ds-list-name">{dataset.name}</span>
            <span className="subtle">
              {formatCount(dataset.rowCount)} rows
              {dataset.fraudCount !== null && ` · ${formatCount(dataset.fraudCount)} fraud`}
              {dataset.kind === 'table' && ' · table'}
            </span>
            {dataset.sourceState !== 'current' && (
              <span className="ds-state">{STATE_LABELS[dataset.sourceState]}</span>
            )}
          </button>
        </li>
      ))}
    </ul>
  )
}

function Workspace({ dataset, onRemoved }: { dataset: Dataset; onRemoved: () => void }) {
  const [tab, setTab] = useState<Tab>('quality')
  const [drill, setDrill] = useState<FilterModel>(NO_FILTER)
  const [confirmRemove, setConfirmRemove] = useState(false)
  const queryClient = useQueryClient()
  const remove = useMutation(
    orpc.datasets.remove.mutationOptions({
      onSuccess: (list) => {
        queryClient.setQueryData(orpc.datasets.list.queryKey(), list)
        onRemoved()
      },
    }),
  )
  const tabs = TABS.filter((candidate) => !candidate.paysim || dataset.kind === 'paysim')

  return (
    <div className="ds-workspace" data-testid="dataset-workspace">
      <header className="ds-header">
        <div>
          <h2 data-testid="dataset-name">{dataset.name}</h2>
          <p className="subtle">
            <span className="mono">{dataset.sourcePath}</span> · {formatBytes(dataset.sourceBytes)} ·{' '}
            {dataset.kind === 'paysim'
              ? 'PaySim, mapped to transactions'
              : `${dataset.columns.length} columns as in the file`}{' '}
            ·{' '}
            <span title={timeTitle(dataset.importedAt)}>imported {formatTimeZoned(dataset.importedAt)}</span>
          </p>
          {dataset.sourceState !== 'current' && (
            <p className="banner banner-error">
              {dataset.sourceState === 'changed'
                ? 'The file changed since this import: open it again to import the new version.'
                : 'The file is gone; this imported copy is all that is left.'}
            </p>
          )}
        </div>
        <span className="toolbar-spacer" />
        {confirmRemove ? (
          <span className="confirm">
            <span>Remove the imported copy? The file itself stays.</span>
            <button type="button" className="button danger" onClick={() => remove.mutate({ id: dataset.id })}>
              Remove
            </button>
            <button type="button" className="button" onClick={() => setConfirmRemove(false)}>
              Keep
            </button>
          </span>
        ) : (
          <button type="button" className="button" onClick={() => setConfirmRemove(true)}>
            Remove…
          </button>
        )}
      </header>
      {remove.isError && <p className="inline-error">{describeError(remove.error)}</p>}
      <div className="ds-tabs" role="tablist" aria-label="Dataset views">
        {tabs.map((candidate) => (
          <button
            key={candidate.id}
            type="button"
            role="tab"
            aria-selected={tab === candidate.id}
            className="ds-tab"
            onClick={() => setTab(candidate.id)}
            data-testid={`dataset-tab-${candidate.id}`}
          >
            {candidate.label}
          </button>
        ))}
      </div>
      <div className="ds-tab-panel" role="tabpanel">
        {tab === 'quality' && <QualityReportView dataset={dataset} />}
        {tab === 'rows' && (
          <RowsView
            datasetId={dataset.id}
            source={DATASET_SOURCE}
            columns={dataset.columns}
            filter={drill}
            exportName={dataset.name.replace(/\.(csv|gz|parquet)$/gi, '').replace(/[^\w .-]/g, '_')}
            testId="dataset-grid"
          />
        )}
        {tab === 'analyses' && (
          <AnalysesView
            datasetId={dataset.id}
            onDrill={(filter) => {
              setDrill(filter)
              setTab('rows')
            }}
          />
        )}
        {tab === 'sql' && <SqlConsole dataset={dataset} />}
        {tab === 'backtest' && <BacktestView dataset={dataset} />}
      </div>
    </div>
  )
}

/** Offline investigations: open a file, check its quality, explore it, ask it questions, test rules on it. */
export function DatasetsPage() {
  const list = useQuery(orpc.datasets.list.queryOptions())
  const queryClient = useQueryClient()
  const [selectedId, setSelectedId] = useState<string>()

  useEffect(
    () =>
      onDatasetReady((dataset) => {
        setSelectedId(dataset.id)
        void queryClient.invalidateQueries({ queryKey: orpc.datasets.key() })
      }),
    [queryClient],
  )

  const datasets = useMemo(() => list.data?.datasets ?? [], [list.data])
  const selected = datasets.find((dataset) => dataset.id === selectedId) ?? datasets[0]

  return (
    <Page title="Datasets">
      <div className="ds-layout" data-testid="datasets-page">
        <aside className="ds-side">
          <OpenDatasetPanel samplePath={list.data?.samplePath ?? null} />
          <section aria-labelledby="ds-list-heading">
            <h2 id="ds-list-heading">Imported</h2>
            {list.isPending ? (
              <LoadingSkeleton label="Loading the datasets" rows={3} />
            ) : list.isError ? (
              <ErrorState
                title="The datasets could not be listed"
                message={describeError(list.error)}
                onRetry={() => void list.refetch()}
              />
            ) : (
              <DatasetList datasets={datasets} selectedId={selected?.id} onSelect={setSelectedId} />
            )}
          </section>
          {list.data && (
            <p className="subtle">
              Exports go to <span className="mono">{list.data.exportsDir}</span>
            </p>
          )}
        </aside>
        <section className="ds-main" aria-label="Dataset">
          {selected ? (
            <Workspace key={selected.id} dataset={selected} onRemoved={() => setSelectedId(undefined)} />
          ) : (
            !list.isPending && (
              <EmptyState title="Nothing open">
                Open the bundled PaySim sample to try everything at once: quality report, grid, analyses, SQL
                and rule backtests.
              </EmptyState>
            )
          )}
        </section>
      </div>
    </Page>
  )
}
