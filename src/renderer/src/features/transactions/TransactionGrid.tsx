import {
  CellStyleModule,
  ColumnApiModule,
  InfiniteRowModelModule,
  ModuleRegistry,
  RowSelectionModule,
  ScrollApiModule,
  TooltipModule,
  ValidationModule,
  type ColDef,
  type GridApi,
  type IDatasource,
  type IGetRowsParams,
  type SortModelItem,
} from 'ag-grid-community'
import { AgGridReact, type CustomCellRendererProps } from 'ag-grid-react'
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import {
  TransactionSortColumn,
  type TransactionCursor,
  type TransactionFilter,
  type TransactionRow,
  type TransactionSort,
} from '../../../../shared/triage-contract'
import { client } from '../../api/client'
import { describeError } from '../../api/errors'
import { openCase } from '../../app/selection'
import { formatMoney, formatTime, timeTitle, zoneName } from '../../ui/format'
import { useGridTheme } from '../../ui/gridTheme'
import { DecisionChip, ScoreBadge } from '../../ui/ScoreBadge'
import { sentByText, sentByTitle } from './sentBy'

// What this grid uses beyond the core (sorting, resizing, overlays, keyboard): the rest of AG Grid stays out.
ModuleRegistry.registerModules([
  InfiniteRowModelModule,
  RowSelectionModule,
  TooltipModule,
  CellStyleModule,
  ScrollApiModule, // ensureIndexVisible, for j and k
  ColumnApiModule, // getColumnState, for the sort
  ...(import.meta.env.DEV ? [ValidationModule] : []),
])

/** Rows per request: one block of the Infinite Row Model, about three screens. */
export const BLOCK_SIZE = 100

export const DEFAULT_SORT: TransactionSort = { column: 'ts', direction: 'desc' }

export function sortOf(model: SortModelItem[]): TransactionSort {
  const [first] = model
  const column = TransactionSortColumn.safeParse(first?.colId)
  return column.success && first !== undefined
    ? { column: column.data, direction: first.sort === 'asc' ? 'asc' : 'desc' }
    : DEFAULT_SORT
}

/**
 * The grid's datasource: the server sorts, filters and pages. Where a block follows one already loaded,
 * it starts from that block's last row (keyset); a jump straight to a far block falls back to an offset.
 */
function transactionSource(filter: TransactionFilter, onError: (message: string) => void): IDatasource {
  const cursors = new Map<string, TransactionCursor>()
  return {
    rowCount: undefined,
    getRows(params: IGetRowsParams) {
      const sort = sortOf(params.sortModel)
      const sortKey = `${sort.column}:${sort.direction}`
      const after = cursors.get(`${sortKey}@${params.startRow}`)
      const limit = params.endRow - params.startRow
      client.triage.transactions
        .page({ filter, sort, offset: params.startRow, limit, ...(after ? { after } : {}) })
        .then((page) => {
          if (page.next !== null) cursors.set(`${sortKey}@${params.endRow}`, page.next)
          const last = page.next === null ? params.startRow + page.rows.length : undefined
          params.successCallback(page.rows, last)
          onError('')
        })
        .catch((error: unknown) => {
          onError(describeError(error))
          params.failCallback()
        })
    },
  }
}

const Score = ({ data }: CustomCellRendererProps<TransactionRow>) =>
  data ? <ScoreBadge score={data.score} decision={data.decision} /> : null
const DecisionCell = ({ data }: CustomCellRendererProps<TransactionRow>) =>
  data ? <DecisionChip decision={data.decision} /> : null
const CaseCell = ({ data }: CustomCellRendererProps<TransactionRow>) =>
  data?.caseId ? (
    <button type="button" className="link-button" onClick={() => openCase(data.caseId ?? 0)} tabIndex={-1}>
      #{data.caseId}
    </button>
  ) : null

const COLUMNS: ColDef<TransactionRow>[] = [
  {
    colId: 'ts',
    headerName: `Event time (${zoneName})`,
    headerTooltip: 'The time the transaction happened, as its sender stated it',
    field: 'ts',
    sortable: true,
    sort: 'desc',
    width: 160,
    valueFormatter: (p) => formatTime(p.value as string),
    tooltipValueGetter: (p) => timeTitle(p.value as string),
  },
  { colId: 'score', headerName: 'Score', field: 'score', sortable: true, width: 78, cellRenderer: Score },
  { colId: 'decision', headerName: 'Decision', field: 'decision', width: 92, cellRenderer: DecisionCell },
  { colId: 'user', headerName: 'User', field: 'userId', width: 130 },
  { colId: 'counterparty', headerName: 'Counterparty', field: 'counterpartyId', width: 130 },
  { colId: 'type', headerName: 'Type', field: 'type', width: 96 },
  {
    colId: 'amount',
    headerName: 'Amount',
    field: 'amount',
    sortable: true,
    width: 130,
    type: 'rightAligned',
    cellClass: 'num',
    valueFormatter: (p) => (p.data ? formatMoney(p.data.amount, p.data.currency) : ''),
  },
  {
    colId: 'reasons',
    headerName: 'Why',
    flex: 1,
    minWidth: 200,
    valueGetter: (p) => p.data?.reasons.map((reason) => reason.text).join('; ') ?? '',
    tooltipValueGetter: (p) => (p.value as string) || null,
  },
  {
    colId: 'sentBy',
    headerName: 'Sent by',
    width: 120,
    valueGetter: (p) => (p.data ? sentByText(p.data.sentBy) : ''),
    tooltipValueGetter: (p) => (p.data ? sentByTitle(p.data.sentBy) : null),
  },
  { colId: 'case', headerName: 'Case', width: 76, cellRenderer: CaseCell },
]

/** An empty grid says which empty it is: no data stored yet, or none matching the filters. */
const noRowsText = (filter: TransactionFilter) =>
  Object.keys(filter).length === 0
    ? '<span data-testid="grid-empty" data-empty="no-data">No transactions yet: they appear here as the pipeline stores them.</span>'
    : '<span data-testid="grid-empty" data-empty="no-match">No transactions match these filters.</span>'

interface TransactionGridProps {
  filter: TransactionFilter
  /** Bumped to reload every block, e.g. when new alerts arrived. */
  generation: number
  onOpen: (row: TransactionRow) => void
  onSelectionChange: (rows: TransactionRow[]) => void
  onSortChange: (sort: TransactionSort) => void
  onScrolledAway: (away: boolean) => void
}

export function TransactionGrid({
  filter,
  generation,
  onOpen,
  onSelectionChange,
  onSortChange,
  onScrolledAway,
}: TransactionGridProps) {
  const theme = useGridTheme()
  const api = useRef<GridApi<TransactionRow> | null>(null)
  const [error, setError] = useState('')
  const datasource = useMemo(() => transactionSource(filter, setError), [filter])

  useEffect(() => {
    api.current?.setGridOption('datasource', datasource)
  }, [datasource])

  useEffect(() => {
    if (generation > 0) api.current?.refreshInfiniteCache()
  }, [generation])

  const open = useCallback((row: TransactionRow | undefined) => row && onOpen(row), [onOpen])

  return (
    <div className="grid-host" data-testid="transactions-grid">
      {error && (
        <p className="inline-error" role="alert" data-testid="grid-error">
          {error}
        </p>
      )}
      <AgGridReact<TransactionRow>
        theme={theme}
        columnDefs={COLUMNS}
        defaultColDef={{ sortable: false, resizable: true, suppressHeaderMenuButton: true }}
        rowModelType="infinite"
        cacheBlockSize={BLOCK_SIZE}
        maxBlocksInCache={50}
        infiniteInitialRowCount={BLOCK_SIZE}
        getRowId={(p) => p.data.txnId}
        rowSelection={{
          mode: 'multiRow',
          checkboxes: false,
          headerCheckbox: false,
          enableClickSelection: true,
        }}
        tooltipShowDelay={400}
        onGridReady={(event) => {
          api.current = event.api
          event.api.setGridOption('datasource', datasource)
        }}
        onSortChanged={(event) =>
          onSortChange(
            sortOf(
              event.api.getColumnState().flatMap((c) => (c.sort ? [{ colId: c.colId, sort: c.sort }] : [])),
            ),
          )
        }
        onRowClicked={(event) => open(event.data)}
        onCellKeyDown={(event) => {
          const key = (event.event as KeyboardEvent | undefined)?.key
          if (key === 'Enter') open(event.data)
          // j and k move like ↓ and ↑, as in the case queue.
          if ((key === 'j' || key === 'k') && event.rowIndex !== null && 'column' in event) {
            const next = Math.max(0, event.rowIndex + (key === 'j' ? 1 : -1))
            event.api.ensureIndexVisible(next)
            event.api.setFocusedCell(next, event.column)
          }
        }}
        onSelectionChanged={(event) => onSelectionChange(event.api.getSelectedRows())}
        onBodyScroll={(event) => {
          if (event.direction === 'vertical') onScrolledAway(event.top > 0)
        }}
        overlayNoRowsTemplate={noRowsText(filter)}
      />
    </div>
  )
}
