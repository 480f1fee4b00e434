import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import type { TransactionRow, TransactionSort } from '../../../../shared/triage-contract'
import { Page } from '../../app/Page'
import { isAlert, throttle, useLiveEvents } from '../../app/liveEvents'
import { clearDrill, pendingDrill } from '../../app/drill'
import { copiedRows } from './copyRows'
import { ExportButton } from './ExportButton'
import { formatCount } from '../../ui/format'
import { SubmitTransactionForm } from './SubmitTransactionForm'
import { Splitter, useSplitWidth } from '../../ui/Splitter'
import { TransactionDetail } from './TransactionDetail'
import { EMPTY_FILTER, toFilter, TransactionFilters, type FilterDraft } from './TransactionFilters'
import { DEFAULT_SORT, TransactionGrid } from './TransactionGrid'

const FILTER_DELAY_MS = 300

/** Opens with a chart's drill-down as the filter, when the analyst came from one. */
function fromDrill(): FilterDraft {
  const drill = pendingDrill()
  if (drill === undefined) return EMPTY_FILTER
  return {
    ...EMPTY_FILTER,
    decisions: drill.decisions ?? [],
    window: drill.from && drill.to ? { from: drill.from, to: drill.to } : null,
  }
}

export function TransactionsPage() {
  const [draft, setDraft] = useState<FilterDraft>(fromDrill)
  const [applied, setApplied] = useState<FilterDraft>(draft)
  const [sort, setSort] = useState<TransactionSort>(DEFAULT_SORT)
  const [openTxn, setOpenTxn] = useState<string>()
  const [selected, setSelected] = useState<TransactionRow[]>([])
  const [generation, setGeneration] = useState(0)
  const [newAlerts, setNewAlerts] = useState(0)
  const [submitting, setSubmitting] = useState(false)
  const [copied, setCopied] = useState('')
  const [width, setWidth] = useSplitWidth('aether.transactions.detailWidth')
  const scrolledAway = useRef(false)
  const userInput = useRef<HTMLInputElement>(null)

  useEffect(clearDrill, [])

  // Typing in a filter reloads once the analyst pauses, not on every key.
  useEffect(() => {
    const timer = setTimeout(() => setApplied(draft), FILTER_DELAY_MS)
    return () => clearTimeout(timer)
  }, [draft])
  const filter = useMemo(() => toFilter(applied), [applied])

  const refresh = useCallback(() => {
    setNewAlerts(0)
    setGeneration((g) => g + 1)
  }, [])
  const refreshSoon = useMemo(() => throttle(refresh, 2000), [refresh])

  // New alerts reload the grid only while the analyst is at the top of the newest-first order; anywhere
  // else the rows stay put under the cursor and a count offers the reload.
  useLiveEvents((event) => {
    if (!isAlert(event)) return
    if (!scrolledAway.current && sort.column === 'ts' && sort.direction === 'desc') refreshSoon()
    else setNewAlerts((n) => n + 1)
  })

  useEffect(() => {
    function onKeyDown(event: KeyboardEvent) {
      const target = event.target as HTMLElement | null
      const typing = target?.closest('input, textarea, select, [contenteditable="true"]') !== null
      if (event.key === '/' && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
        event.preventDefault()
        userInput.current?.focus()
      } else if (event.key === 'Escape' && openTxn !== undefined && !typing) setOpenTxn(undefined)
    }
    window.addEventListener('keydown', onKeyDown)
    return () => window.removeEventListener('keydown', onKeyDown)
  }, [openTxn])

  async function copySelected() {
    if (selected.length === 0) return
    await navigator.clipboard.writeText(copiedRows(selected))
    setCopied(`Copied ${selected.length} rows.`)
  }

  return (
    <Page title="Transactions">
      <div className="toolbar">
        <TransactionFilters draft={draft} onChange={setDraft} userInput={userInput} />
        <span className="toolbar-spacer" />
        {newAlerts > 0 && (
          <button type="button" className="button live-pill" onClick={refresh} data-testid="new-alerts">
            {formatCount(newAlerts)} new alerts · show
          </button>
        )}
        <button
          type="button"
          className="button"
          disabled={selected.length === 0}
          onClick={() => void copySelected()}
        >
          Copy selected
        </button>
        <span className="subtle" role="status">
          {copied}
        </span>
        <ExportButton filter={filter} sort={sort} />
        <button
          type="button"
          className="button"
          onClick={() => setSubmitting(true)}
          data-testid="open-submit"
        >
          Submit a transaction
        </button>
      </div>
      <div
        className="split"
        style={{ gridTemplateColumns: openTxn ? `minmax(0, 1fr) 6px ${width}px` : 'minmax(0, 1fr)' }}
      >
        <TransactionGrid
          filter={filter}
          generation={generation}
          onOpen={(row) => setOpenTxn(row.txnId)}
          onSelectionChange={setSelected}
          onSortChange={setSort}
          onScrolledAway={(away) => {
            scrolledAway.current = away
          }}
        />
        {openTxn && (
          <>
            <Splitter width={width} onResize={setWidth} />
            <TransactionDetail key={openTxn} txnId={openTxn} onClose={() => setOpenTxn(undefined)} />
          </>
        )}
      </div>
      {submitting && <SubmitTransactionForm onClose={() => setSubmitting(false)} />}
    </Page>
  )
}
