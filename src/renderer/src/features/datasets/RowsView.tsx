import { useState } from 'react'
import type { ColumnInfo, FilterModel, GridSource, SortItem } from '../../../../shared/datasets-contract'
import { DatasetGrid } from './DatasetGrid'
import { ExportControls } from './ExportControls'
import { GroupByPanel } from './GroupByPanel'

interface RowsViewProps {
  datasetId: string
  source: GridSource
  columns: ColumnInfo[]
  /** The filter to start from (a chart's drill-down); a new object applies it again. */
  filter: FilterModel
  exportName: string
  testId: string
}

/** The grid with its tools: group by a column, export what it shows. */
export function RowsView({ datasetId, source, columns, filter, exportName, testId }: RowsViewProps) {
  const [query, setQuery] = useState<{ filter: FilterModel; sort: SortItem[] }>({ filter, sort: [] })
  const [applied, setApplied] = useState(filter)
  const [previous, setPrevious] = useState(filter)
  // A new drill-down from outside replaces what the grid was filtered by.
  if (previous !== filter) {
    setPrevious(filter)
    setApplied(filter)
  }

  return (
    <div className="ds-rows">
      <div className="toolbar ds-toolbar">
        <GroupByPanel
          datasetId={datasetId}
          source={source}
          columns={columns}
          filter={query.filter}
          onPick={(next) => setApplied({ ...next })}
        />
        <span className="toolbar-spacer" />
        <ExportControls datasetId={datasetId} source={source} query={query} defaultName={exportName} />
      </div>
      <DatasetGrid
        datasetId={datasetId}
        source={source}
        columns={columns}
        filter={applied}
        onQueryChange={({ filter: shown, sort }) => setQuery({ filter: shown, sort })}
        testId={testId}
      />
    </div>
  )
}
