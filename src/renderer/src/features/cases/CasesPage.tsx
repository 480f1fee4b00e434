import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect, useRef, useState } from 'react'
import {
  CASE_OUTCOMES,
  type BulkCaseAction,
  type BulkResult,
  type CaseQueueRequest,
  type CaseStatus,
  type CaseSummary,
} from '../../../../shared/triage-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { EmptyState } from '../../app/EmptyState'
import { ErrorState } from '../../app/ErrorState'
import { LoadingSkeleton } from '../../app/LoadingSkeleton'
import { Page } from '../../app/Page'
import { Splitter, useSplitWidth } from '../../ui/Splitter'
import { formatAge, formatClock, formatDate, formatMoney, formatTime, timeTitle } from '../../ui/format'
import { ScoreBadge } from '../../ui/ScoreBadge'
import { CaseView, STATUS_LABELS } from './CaseView'
import { useLiveConnected } from '../../app/liveEvents'
import { OUTCOME_LABELS } from './ResolveDialog'
import { selectCase, useSelectedCase } from '../../app/selection'
import { useCaseActions } from './useCaseActions'

const QUEUES = {
  active: { label: 'Open, in review, escalated', statuses: ['open', 'in_review', 'escalated'] },
  open: { label: 'Open', statuses: ['open'] },
  in_review: { label: 'In review', statuses: ['in_review'] },
  escalated: { label: 'Escalated', statuses: ['escalated'] },
  closed: { label: 'Closed', statuses: ['closed'] },
} satisfies Record<string, { label: string; statuses: CaseStatus[] }>
type Queue = keyof typeof QUEUES

/** A due time in the narrow queue beside an open case: the clock today, the date otherwise. */
function formatDue(iso: string | null): string {
  if (iso === null) return '—'
  const due = new Date(iso)
  return due.toDateString() === new Date().toDateString() ? formatClock(iso) : formatDate(iso)
}

const isTyping = (target: EventTarget | null) =>
  target instanceof HTMLElement &&
  target.closest('input, textarea, select, [contenteditable="true"]') !== null

function BulkBar({ selected, onDone }: { selected: CaseSummary[]; onDone: (result: BulkResult) => void }) {
  const [outcome, setOutcome] = useState<(typeof CASE_OUTCOMES)[number]>('false_positive')
  const bulk = useMutation(orpc.triage.cases.bulk.mutationOptions({ onSuccess: onDone }))
  const act = (action: BulkCaseAction['action']) =>
    bulk.mutate({ cases: selected.map((c) => ({ id: c.id, version: c.version })), action })
  return (
    <div className="bulk-bar" role="toolbar" aria-label="Bulk actions" data-testid="bulk-bar">
      <span>{selected.length} selected</span>
      <button type="button" className="button" onClick={() => act({ kind: 'escalate' })}>
        Escalate
      </button>
      <select
        aria-label="Outcome"
        value={outcome}
        onChange={(e) => setOutcome(CASE_OUTCOMES.find((o) => o === e.target.value) ?? 'inconclusive')}
      >
        {CASE_OUTCOMES.map((value) => (
          <option key={value} value={value}>
            {OUTCOME_LABELS[value]}
          </option>
        ))}
      </select>
      <button type="button" className="button" onClick={() => act({ kind: 'close', outcome })}>
        Close all
      </button>
      {bulk.isError && <span className="inline-error">{describeError(bulk.error)}</span>}
    </div>
  )
}

export function CasesPage() {
  const queryClient = useQueryClient()
  const [queue, setQueue] = useState<Queue>('active')
  const [assignee, setAssignee] = useState<NonNullable<CaseQueueRequest['assignee']>>('anyone')
  const [overdueOnly, setOverdueOnly] = useState(false)
  const [search, setSearch] = useState('')
  const [cursor, setCursor] = useState(0)
  const [checked, setChecked] = useState<Set<number>>(new Set())
  const [resolving, setResolving] = useState(false)
  const [bulkNote, setBulkNote] = useState('')
  const [width, setWidth] = useSplitWidth('aether.cases.detailWidth', 640)
  const selectedId = useSelectedCase()
  const searchInput = useRef<HTMLInputElement>(null)
  const rows = useRef<(HTMLTableRowElement | null)[]>([])
  const actions = useCaseActions()
  const live = useLiveConnected()
  const me = useQuery(orpc.triage.me.queryOptions())

  const input: CaseQueueRequest = {
    statuses: QUEUES[queue].statuses,
    assignee,
    overdueOnly,
    ...(search.trim() ? { userId: search.trim() } : {}),
  }
  const cases = useQuery({ ...orpc.triage.cases.queue.queryOptions({ input }), refetchInterval: 30_000 })
  const list = cases.data ?? []
  const filtered = overdueOnly || assignee !== 'anyone'
  // An empty queue says which empty it is: nothing yet, nothing matching, or nothing left to do.
  const anyCase = useQuery({
    ...orpc.triage.cases.queue.queryOptions({
      input: { statuses: ['open', 'in_review', 'escalated', 'closed'], limit: 1 },
    }),
    enabled: cases.isSuccess && list.length === 0,
  })
  const current = list[Math.min(cursor, list.length - 1)]
  const selectedSummary = list.find((c) => c.id === selectedId)

  async function takeNext() {
    setBulkNote('')
    const taken = await actions.next()
    if (taken) selectCase(taken.id)
    else if (taken === null && !actions.problem) setBulkNote('No case waiting — the queue is clear.')
  }

  useEffect(() => {
    function onKeyDown(event: KeyboardEvent) {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target))
        return
      if (document.querySelector('dialog[open]')) return
      const focus = (index: number) => {
        setCursor(index)
        rows.current[index]?.focus()
      }
      const target = selectedSummary ?? current
      const handlers: Record<string, () => void> = {
        j: () => focus(Math.min(list.length - 1, cursor + 1)),
        k: () => focus(Math.max(0, cursor - 1)),
        Enter: () => {
          if (current) selectCase(current.id)
        },
        n: () => void takeNext(),
        a: () => {
          if (target && me.data) void actions.assignToMe(target, me.data.id)
        },
        e: () => {
          if (target) void actions.escalate(target)
        },
        r: () => {
          if (target) {
            selectCase(target.id)
            setResolving(true)
          }
        },
        '/': () => searchInput.current?.focus(),
        Escape: () => selectCase(null),
      }
      const handler = handlers[event.key]
      if (handler === undefined) return
      event.preventDefault()
      handler()
    }
    window.addEventListener('keydown', onKeyDown)
    return () => window.removeEventListener('keydown', onKeyDown)
  })

  const toggle = (id: number) =>
    setChecked((now) => {
      const next = new Set(now)
      if (next.has(id)) next.delete(id)
      else next.add(id)
      return next
    })

  const queueView = cases.isPending ? (
    <LoadingSkeleton label="Loading the case queue" rows={8} />
  ) : cases.isError ? (
    <ErrorState
      title="The queue could not be loaded"
      message={describeError(cases.error)}
      onRetry={() => void cases.refetch()}
    />
  ) : list.length === 0 ? (
    anyCase.data?.length === 0 ? (
      <EmptyState title="No cases yet">
        A case opens here when a scored transaction raises an alert above the review threshold; none has so
        far.
      </EmptyState>
    ) : search.trim() !== '' ? (
      <EmptyState title={`No case for a user starting with “${search.trim()}”`}>
        {overdueOnly || assignee !== 'anyone' || queue !== 'active'
          ? 'Among the cases these filters show. Clear the filters or check the ID.'
          : `In the “${QUEUES[queue].label}” cases. Check the ID, or look among the closed cases.`}
      </EmptyState>
    ) : filtered || queue !== 'active' ? (
      <EmptyState title="No cases match these filters">
        There are cases, but none {QUEUES[queue].label.toLowerCase()}
        {assignee === 'me' ? ', assigned to you' : assignee === 'unassigned' ? ', unassigned' : ''}
        {overdueOnly ? ', overdue' : ''}.
      </EmptyState>
    ) : (
      <EmptyState title="No cases — the queue is clear">
        Every case is closed. A new one opens here when a scored transaction raises an alert above the review
        threshold.
      </EmptyState>
    )
  ) : (
    <table className="queue" data-testid="case-queue" data-compact={selectedId !== null}>
      <thead>
        <tr>
          <th aria-label="Select" />
          <th>Case</th>
          <th>Score</th>
          <th>User</th>
          <th className="num">At risk</th>
          <th className="wide-only">Alerts</th>
          <th>Status</th>
          <th className="wide-only">Assignee</th>
          <th>Due</th>
          <th>Opened</th>
        </tr>
      </thead>
      <tbody>
        {list.map((c, index) => (
          <tr
            key={c.id}
            ref={(row) => {
              rows.current[index] = row
            }}
            tabIndex={index === cursor ? 0 : -1}
            aria-selected={c.id === selectedId}
            data-cursor={index === cursor ? 'true' : undefined}
            data-overdue={c.overdue ? 'true' : undefined}
            data-testid="case-row"
            data-case-id={c.id}
            onClick={() => {
              setCursor(index)
              selectCase(c.id)
            }}
            onFocus={() => setCursor(index)}
          >
            <td onClick={(event) => event.stopPropagation()}>
              <input
                type="checkbox"
                aria-label={`Select case ${c.id}`}
                checked={checked.has(c.id)}
                onChange={() => toggle(c.id)}
              />
            </td>
            <td className="num">#{c.id}</td>
            <td>
              <ScoreBadge score={c.maxScore} decision={c.maxScore >= 80 ? 'block' : 'review'} />
            </td>
            <td className="mono" title={c.userId}>
              {c.userId}
            </td>
            <td className="num">{formatMoney(c.amountAtRisk)}</td>
            <td className="num wide-only">{c.alertCount}</td>
            <td>
              <span className="status-chip" data-status={c.status}>
                {STATUS_LABELS[c.status]}
              </span>
            </td>
            <td className="wide-only">{c.assignee?.displayName ?? '—'}</td>
            <td
              className={c.overdue ? 'overdue' : undefined}
              title={timeTitle(c.dueAt)}
              data-testid="case-due"
            >
              {selectedId === null ? formatTime(c.dueAt) : formatDue(c.dueAt)}
            </td>
            <td title={timeTitle(c.openedAt)} data-testid="case-opened">
              {formatAge(c.openedAt)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )

  return (
    <Page title="Cases">
      <div className="toolbar">
        <button
          type="button"
          className="button primary"
          onClick={() => void takeNext()}
          disabled={actions.pending}
          aria-keyshortcuts="n"
          title="Take the highest-priority unassigned case (n)"
          data-testid="next-case"
        >
          Next case <kbd>n</kbd>
        </button>
        <select
          aria-label="Queue"
          value={queue}
          onChange={(e) => setQueue(e.target.value as Queue)}
          data-testid="queue-status"
        >
          {(Object.keys(QUEUES) as Queue[]).map((key) => (
            <option key={key} value={key}>
              {QUEUES[key].label}
            </option>
          ))}
        </select>
        <select
          aria-label="Assignee"
          value={assignee}
          onChange={(e) =>
            setAssignee(
              e.target.value === 'me' ? 'me' : e.target.value === 'unassigned' ? 'unassigned' : 'anyone',
            )
          }
        >
          <option value="anyone">Anyone’s</option>
          <option value="me">Mine</option>
          <option value="unassigned">Unassigned</option>
        </select>
        <label className="filter-toggle">
          <input type="checkbox" checked={overdueOnly} onChange={(e) => setOverdueOnly(e.target.checked)} />
          Overdue
        </label>
        <input
          ref={searchInput}
          placeholder="User (/)"
          aria-label="Search by user"
          aria-keyshortcuts="/"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
        <span className="toolbar-spacer" />
        <span className="subtle" role="status" data-testid="queue-note">
          {bulkNote}
        </span>
        {actions.problem && selectedId === null && (
          <span className="inline-error" role="alert" data-testid="queue-error">
            {actions.problem}
          </span>
        )}
        <span
          className="live-indicator"
          data-live={live}
          data-testid="live-indicator"
          title="Alerts arrive live"
        >
          {live ? 'Live' : 'Reconnecting…'}
        </span>
      </div>
      {checked.size > 0 && (
        <BulkBar
          selected={list.filter((c) => checked.has(c.id))}
          onDone={(result) => {
            setChecked(new Set())
            setBulkNote(
              `${result.updated.length} changed${result.refused.length ? `; refused: ${result.refused.map((r) => `#${r.id} ${r.message}`).join(' ')}` : ''}`,
            )
            void queryClient.invalidateQueries({ queryKey: orpc.triage.cases.key() })
          }}
        />
      )}
      <div
        className="split"
        style={{
          gridTemplateColumns: selectedId !== null ? `minmax(0, 1fr) 6px ${width}px` : 'minmax(0, 1fr)',
        }}
      >
        <div className="queue-host">{queueView}</div>
        {selectedId !== null && (
          <>
            <Splitter width={width} onResize={setWidth} />
            <div className="detail-panel">
              <CaseView
                key={selectedId}
                caseId={selectedId}
                me={me.data}
                actions={actions}
                resolving={resolving}
                onResolving={setResolving}
                onResolved={() => {
                  // The dialog may unmount (its case now closed) before its own close event would
                  // clear this, and the next case would open with the dialog still up.
                  setResolving(false)
                  void takeNext()
                }}
                onClose={() => selectCase(null)}
              />
            </div>
          </>
        )}
      </div>
    </Page>
  )
}
