import {
  CellStyleModule,
  DateFilterModule,
  InfiniteRowModelModule,
  ModuleRegistry,
  NumberFilterModule,
  TextFilterModule,
  TooltipModule,
  ValidationModule,
  type ColDef,
  type FilterModel as AgFilterModel,
  type GridApi,
  type IDatasource,
  type IGetRowsParams,
} from 'ag-grid-community'
import { AgGridReact } from 'ag-grid-react'
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import type {
  Cell,
  ColumnInfo,
  FilterModel,
  GridSource,
  SortItem,
} from '../../../../shared/datasets-contract'
import { client } from '../../api/client'
import { describeError } from '../../api/errors'
import { useGridTheme } from '../../ui/gridTheme'
import { useFillHeight } from '../../ui/useFillHeight'
import {
  formatCount,
  formatMoney,
  formatTime,
  isMoneyType,
  isNumericType,
  isoOf,
  isTimeType,
  timeTitle,
  zoneName,
} from './format'

ModuleRegistry.registerModules([
  InfiniteRowModelModule,
  TextFilterModule,
  NumberFilterModule,
  DateFilterModule,
  CellStyleModule,
  TooltipModule,
  ...(import.meta.env.DEV ? [ValidationModule] : []),
])

/** Rows per request: one block of the infinite row model. The renderer keeps a few blocks, never the table. */
const BLOCK_SIZE = 100
const BLOCKS_KEPT = 20

type Row = Record<string, Cell>

function columnDef(column: ColumnInfo): ColDef<Row> {
  const base: ColDef<Row> = {
    field: column.name,
    headerName: column.name,
    headerTooltip: `${column.name} · ${column.type}`,
    sortable: true,
    resizable: true,
    // A filter applies as the analyst types (after a pause), never waiting for an Apply press.
    filterParams: { buttons: ['reset'], debounceMs: 400, maxNumConditions: 2 },
  }
  if (isTimeType(column.type))
    return {
      ...base,
      // Times read in the analyst's zone, which the header names.
      headerName: column.type.startsWith('DATE') ? column.name : `${column.name} (${zoneName})`,
      filter: 'agDateColumnFilter',
      width: 190,
      valueFormatter: ({ value }) => (typeof value === 'string' ? formatTime(isoOf(value)) : ''),
      tooltipValueGetter: ({ value }) => (typeof value === 'string' ? timeTitle(isoOf(value)) : ''),
    }
  if (isNumericType(column.type))
    return {
      ...base,
      filter: 'agNumberColumnFilter',
      type: 'rightAligned',
      width: isMoneyType(column.type) ? 140 : 100,
      valueFormatter: ({ value }) =>
        value === null || value === undefined
          ? ''
          : isMoneyType(column.type)
            ? formatMoney(String(value), 'USD')
            : typeof value === 'number'
              ? formatCount(value)
              : Number(value).toLocaleString(),
    }
  return {
    ...base,
    filter: 'agTextColumnFilter',
    width: column.name.endsWith('_id') || column.type === 'UUID' ? 150 : 120,
  }
}

interface DatasetGridProps {
  datasetId: string
  source: GridSource
  columns: ColumnInfo[]
  /** A filter to apply, e.g. from a chart's drill-down; a new object applies it again. */
  filter: FilterModel
  onQueryChange?: (query: { filter: FilterModel; sort: SortItem[]; rowCount: number | null }) => void
  testId: string
}

/** The page requests of one datasource, stopped together when the grid lets the datasource go. */
class PageRequests {
  private controller = new AbortController()

  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** React's strict mode runs an effect, its cleanup, then the effect again: the second run revives. */
  revive(): void {
    if (this.controller.signal.aborted) this.controller = new AbortController()
  }

  abort(): void {
    this.controller.abort()
  }
}

/**
 * AG Grid's infinite row model over a dataset (or a console query): every block is a DuckDB query with
 * the grid's sort and filter, so the renderer holds a few hundred rows whatever the table's size.
 */
export function DatasetGrid({ datasetId, source, columns, filter, onQueryChange, testId }: DatasetGridProps) {
  const theme = useGridTheme()
  const api = useRef<GridApi<Row> | null>(null)
  const [error, setError] = useState('')
  const [rowCount, setRowCount] = useState<number | null>(null)
  const [millis, setMillis] = useState<number | null>(null)
  const [filtered, setFiltered] = useState(false)
  const queryChange = useRef(onQueryChange)
  useEffect(() => {
    queryChange.current = onQueryChange
  })

  const columnDefs = useMemo(() => columns.map(columnDef), [columns])

  // Each datasource's requests stop when the grid gets another one or goes away: the server interrupts
  // their queries, which over a console query can be long.
  const { datasource, requests } = useMemo(() => {
    const requests = new PageRequests()
    let count: number | null = null
    // The latest query's first page: an earlier one answering late (the unfiltered page, when a drill's
    // filter came right after the grid opened) must not put its count over the latest's.
    let latestFirst = 0
    const datasource: IDatasource = {
      getRows(params: IGetRowsParams) {
        const sort: SortItem[] = params.sortModel.map((item) => ({ colId: item.colId, sort: item.sort }))
        const filterModel = params.filterModel as FilterModel
        const first = params.startRow === 0
        const ticket = first ? ++latestFirst : latestFirst
        const signal = requests.signal
        client.datasets
          .rows(
            {
              datasetId,
              source,
              startRow: params.startRow,
              endRow: params.endRow,
              sort,
              filter: filterModel,
              ...(first ? { withCount: true } : {}),
            },
            { signal },
          )
          .then((page) => {
            // A page of an earlier query goes to the grid, which drops it, and changes no figure.
            const current = ticket === latestFirst
            if (current && page.rowCount !== null) count = page.rowCount
            const requested = params.endRow - params.startRow
            const last =
              page.rows.length < requested ? params.startRow + page.rows.length : (count ?? undefined)
            params.successCallback(page.rows, last)
            setError('')
            setMillis(page.millis)
            if (first && current) {
              setRowCount(count)
              setFiltered(Object.keys(filterModel).length > 0)
              queryChange.current?.({ filter: filterModel, sort, rowCount: count })
            }
          })
          .catch((failure: unknown) => {
            if (signal.aborted) return
            setError(describeError(failure))
            params.failCallback()
          })
      },
    }
    return { datasource, requests }
  }, [datasetId, source])
  useEffect(() => {
    requests.revive()
    return () => requests.abort()
  }, [requests])

  useEffect(() => {
    api.current?.setFilterModel(Object.keys(filter).length === 0 ? null : (filter as AgFilterModel))
  }, [filter])

  const fill = useFillHeight<HTMLDivElement>()

  const onGridReady = useCallback(
    ({ api: ready }: { api: GridApi<Row> }) => {
      api.current = ready
      if (Object.keys(filter).length > 0) ready.setFilterModel(filter as AgFilterModel)
    },
    // The first filter only: later ones arrive through the effect above.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [],
  )

  return (
    <div className="ds-grid-wrap">
      <div className="ds-grid-status subtle" role="status">
        <span data-testid={`${testId}-count`}>
          {rowCount === null ? 'Counting rows…' : `${formatCount(rowCount)} rows`}
        </span>
        {millis !== null && <span> · last block in {formatCount(millis)} ms</span>}
        {filtered && (
          <button type="button" className="button ds-link" onClick={() => api.current?.setFilterModel(null)}>
            Clear filters
          </button>
        )}
      </div>
      {error && (
        <p className="inline-error" role="alert" data-testid={`${testId}-error`}>
          {error}
        </p>
      )}
      <div className="ds-grid" data-testid={testId} ref={fill}>
        <AgGridReact<Row>
          theme={theme}
          columnDefs={columnDefs}
          defaultColDef={{ minWidth: 70 }}
          rowModelType="infinite"
          datasource={datasource}
          cacheBlockSize={BLOCK_SIZE}
          maxBlocksInCache={BLOCKS_KEPT}
          maxConcurrentDatasourceRequests={2}
          onGridReady={onGridReady}
          tooltipShowDelay={400}
        />
      </div>
    </div>
  )
}
