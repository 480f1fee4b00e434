import { useQuery } from '@tanstack/react-query'
import { useId, useState, type FormEvent } from 'react'
import type { Analyst, CaseAlert, CaseDetail, CaseEvent } from '../../../../shared/triage-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { ErrorState } from '../../app/ErrorState'
import { LoadingSkeleton } from '../../app/LoadingSkeleton'
import { useMayAssignOthers } from '../../app/useMayAdminister'
import { formatMoney, formatTime, timeTitle, zoneName } from '../../ui/format'
import { ReasonList } from '../../ui/ReasonList'
import { DecisionChip, ScoreBadge } from '../../ui/ScoreBadge'
import { OUTCOME_LABELS, ResolveDialog } from './ResolveDialog'
import type { CaseActions } from './useCaseActions'
import { selectCase } from '../../app/selection'

export const STATUS_LABELS = {
  open: 'Open',
  in_review: 'In review',
  escalated: 'Escalated',
  closed: 'Closed',
}

/** What the audit trail calls each action and each field of a change, in an analyst's words. */
const ACTION_LABELS: Record<string, string> = {
  opened: 'Opened',
  alert: 'New alert',
  assigned: 'Assigned',
  unassigned: 'Back to the queue',
  in_review: 'In review',
  escalated: 'Escalated',
  closed: 'Closed',
  note: 'Note',
  blocklisted: 'Blocklisted',
}
const FIELD_LABELS: Record<string, string> = {
  status: 'Status',
  outcome: 'Outcome',
  assignee: 'Assignee',
  entries: 'Entries',
  alert_count: 'Alerts',
  max_score: 'Highest score',
  amount_at_risk: 'At risk',
  priority: 'Priority',
  score: 'Score',
  decision: 'Decision',
}
const LIST_KIND_LABELS: Record<string, string> = {
  user: 'user',
  counterparty: 'counterparty',
  ip: 'IP',
  device: 'device',
}

export const plainAction = (action: string) =>
  ACTION_LABELS[action] ?? action.replaceAll('_', ' ').replace(/^./, (c) => c.toUpperCase())

/** A stored value as the analyst reads it: statuses and outcomes by name, list entries as "user C123". */
function plainValue(key: string, value: unknown): string {
  if (value === null || value === undefined) return key === 'assignee' ? 'nobody' : '—'
  if (Array.isArray(value)) return value.map((item) => plainValue(key, item)).join(', ')
  const text = String(value)
  if (key === 'status' && text in STATUS_LABELS) return STATUS_LABELS[text as keyof typeof STATUS_LABELS]
  if (key === 'outcome' && text in OUTCOME_LABELS) return OUTCOME_LABELS[text as keyof typeof OUTCOME_LABELS]
  if (key === 'decision') return text.charAt(0).toUpperCase() + text.slice(1)
  if (key === 'entries') {
    const [kind, ...rest] = text.split(':')
    return kind !== undefined && kind in LIST_KIND_LABELS
      ? `${LIST_KIND_LABELS[kind]} ${rest.join(':')}`
      : text
  }
  return text
}

export const describeChange = (event: CaseEvent): string => {
  const keys = [...new Set([...Object.keys(event.before ?? {}), ...Object.keys(event.after ?? {})])]
  return keys
    .filter((key) => key !== 'alert_id' && !key.endsWith('_id'))
    .map((key) => {
      const label = FIELD_LABELS[key] ?? key.replaceAll('_', ' ').replace(/^./, (c) => c.toUpperCase())
      const before = plainValue(key, event.before?.[key])
      const after = plainValue(key, event.after?.[key])
      return event.before === null || !(key in event.before)
        ? `${label}: ${after}`
        : `${label}: ${before} → ${after}`
    })
    .join(' · ')
}

function AuditTrail({ events }: { events: CaseEvent[] }) {
  return (
    <table className="mini-table audit" data-testid="audit-trail">
      <thead>
        <tr>
          <th title={`When it was recorded, ${zoneName}`}>Recorded</th>
          <th>Who</th>
          <th>What</th>
          <th>Change</th>
          <th>Note</th>
        </tr>
      </thead>
      <tbody>
        {events.map((event) => (
          <tr key={event.id} data-testid="audit-row" data-action={event.action}>
            <td title={timeTitle(event.at)}>{formatTime(event.at)}</td>
            <td title={event.actor}>{event.actorName}</td>
            <td>{plainAction(event.action)}</td>
            <td className="wrap">{describeChange(event)}</td>
            <td className="wrap">{event.note}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

function NoteForm({ onAdd }: { onAdd: (text: string) => Promise<boolean> }) {
  const id = useId()
  const [text, setText] = useState('')
  async function submit(event: FormEvent) {
    event.preventDefault()
    if (text.trim() === '') return
    if (await onAdd(text.trim())) setText('')
  }
  return (
    <form className="note-form" onSubmit={(event) => void submit(event)}>
      <label htmlFor={id} className="visually-hidden">
        Note
      </label>
      <textarea
        id={id}
        rows={2}
        maxLength={4000}
        placeholder="Add a note for the audit trail"
        value={text}
        onChange={(e) => setText(e.target.value)}
        data-testid="note-text"
      />
      <button type="submit" className="button" data-testid="add-note">
        Add note
      </button>
    </form>
  )
}

function Reassign({
  detail,
  actions,
  me,
}: {
  detail: CaseDetail
  actions: CaseActions
  me: Analyst | undefined
}) {
  const analysts = useQuery(orpc.triage.analysts.queryOptions())
  const [to, setTo] = useState('')
  const [reason, setReason] = useState('')
  // An analyst takes a case or gives it back to the queue; assigning to someone else is a supervisor's
  // (the store refuses it, and the session says so), so the list does not offer it.
  const mayAssignOthers = useMayAssignOthers()
  const options: Analyst[] = (analysts.data ?? []).filter(
    (analyst) => mayAssignOthers || analyst.id === me?.id,
  )
  return (
    <form
      className="inline-form"
      aria-label="Reassign"
      onSubmit={(event) => {
        event.preventDefault()
        void actions.reassign(detail.case, to === '' ? null : Number(to), reason)
      }}
    >
      <select
        aria-label="Assign to"
        value={to}
        onChange={(e) => setTo(e.target.value)}
        data-testid="reassign-to"
      >
        <option value="">Back to the queue</option>
        {options.map((analyst) => (
          <option key={analyst.id} value={analyst.id}>
            {analyst.displayName} ({analyst.role})
          </option>
        ))}
      </select>
      <input
        aria-label="Reason"
        placeholder="Reason"
        value={reason}
        onChange={(e) => setReason(e.target.value)}
      />
      <button type="submit" className="button">
        Reassign
      </button>
      {!mayAssignOthers && (
        <span className="subtle" data-testid="reassign-own-only">
          Supervisors assign cases to others.
        </span>
      )}
    </form>
  )
}

interface CaseViewProps {
  caseId: number
  me: Analyst | undefined
  actions: CaseActions
  resolving: boolean
  onResolving: (open: boolean) => void
  /** After a case is resolved: the queue goes on to the next one. */
  onResolved: () => void
  onClose: () => void
}

/** A case top to bottom: who, what happened, why it was flagged, what analysts did, what to do next. */
export function CaseView({
  caseId,
  me,
  actions,
  resolving,
  onResolving,
  onResolved,
  onClose,
}: CaseViewProps) {
  const detail = useQuery(orpc.triage.cases.get.queryOptions({ input: { id: caseId } }))
  if (detail.isPending) return <LoadingSkeleton label="Loading the case" rows={10} />
  if (detail.isError)
    return (
      <ErrorState
        title="The case could not be loaded"
        message={describeError(detail.error)}
        onRetry={() => void detail.refetch()}
      />
    )
  const data = detail.data
  const c = data.case
  const closed = c.status === 'closed'
  // Each rule once, as the newest alert it fired on says it, so the headline agrees with the top alert.
  const byRule = new Map<string, CaseAlert['reasons'][number]>()
  for (const reason of data.alerts.flatMap((alert) => alert.reasons))
    if (!byRule.has(reason.rule)) byRule.set(reason.rule, reason)
  const reasons = [...byRule.values()]

  return (
    <article className="case-view" aria-labelledby="case-title" data-testid="case-view" data-case-id={c.id}>
      <header className="case-header">
        <h2 id="case-title" tabIndex={-1}>
          Case #{c.id} · <span className="mono">{c.userId}</span>
        </h2>
        <span className="status-chip" data-status={c.status} data-testid="case-status">
          {STATUS_LABELS[c.status]}
          {c.outcome && ` · ${OUTCOME_LABELS[c.outcome]}`}
        </span>
        <button
          type="button"
          className="button icon"
          aria-label="Close case"
          title="Close (Esc)"
          onClick={onClose}
        >
          ×
        </button>
      </header>
      <dl className="facts case-facts">
        <dt>Highest score</dt>
        <dd>
          <ScoreBadge score={c.maxScore} decision={c.maxScore >= 80 ? 'block' : 'review'} />
        </dd>
        <dt>At risk</dt>
        <dd className="num">{formatMoney(c.amountAtRisk)}</dd>
        <dt>Alerts</dt>
        <dd>{c.alertCount}</dd>
        <dt>Assignee</dt>
        <dd data-testid="case-assignee">{c.assignee?.displayName ?? 'Unassigned'}</dd>
        <dt>Due</dt>
        <dd className={c.overdue ? 'overdue' : undefined} title={timeTitle(c.dueAt)}>
          {formatTime(c.dueAt)} {c.overdue && '· overdue'}
        </dd>
        <dt>Last change</dt>
        <dd title={timeTitle(c.updatedAt)}>
          {c.updatedBy}, {formatTime(c.updatedAt)} · v{c.version}
        </dd>
      </dl>

      {actions.problem && (
        <div className="banner banner-error case-problem" role="alert" data-testid="case-error">
          <span>{actions.problem}</span>
          <button
            type="button"
            className="button"
            onClick={() => {
              actions.clearProblem()
              void detail.refetch()
            }}
          >
            Reload
          </button>
        </div>
      )}

      {!closed && (
        <div className="case-actions" role="toolbar" aria-label="Case actions">
          {me && c.assignee?.id !== me.id && (
            <button
              type="button"
              className="button"
              aria-keyshortcuts="a"
              title="Assign to me (a)"
              onClick={() => void actions.assignToMe(c, me.id)}
              data-testid="assign-me"
            >
              Assign to me <kbd>a</kbd>
            </button>
          )}
          {c.status === 'escalated' ? (
            <button type="button" className="button" onClick={() => void actions.review(c)}>
              Back to review
            </button>
          ) : (
            <button
              type="button"
              className="button"
              aria-keyshortcuts="e"
              title="Escalate (e)"
              onClick={() => void actions.escalate(c)}
              data-testid="escalate"
            >
              Escalate <kbd>e</kbd>
            </button>
          )}
          <button
            type="button"
            className="button primary"
            aria-keyshortcuts="r"
            title="Resolve (r)"
            onClick={() => onResolving(true)}
            data-testid="resolve"
          >
            Resolve <kbd>r</kbd>
          </button>
          <Reassign detail={data} actions={actions} me={me} />
        </div>
      )}

      <section aria-labelledby="case-why">
        <h3 id="case-why">Why it was flagged</h3>
        <ReasonList reasons={reasons} />
      </section>

      {data.related.length > 0 && (
        <section aria-labelledby="case-related" data-testid="related-cases">
          <h3 id="case-related">Related cases: the same money</h3>
          <ul className="related-cases">
            {data.related.map((other) => (
              <li key={other.id} data-testid="related-case" data-case-id={other.id}>
                <button type="button" className="link-button" onClick={() => selectCase(other.id)}>
                  Case #{other.id} · <span className="mono">{other.userId}</span>
                </button>{' '}
                {other.link} ({formatMoney(other.amount)}) ·{' '}
                <span className="status-chip" data-status={other.status}>
                  {STATUS_LABELS[other.status]}
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}

      <section aria-labelledby="case-alerts">
        <h3 id="case-alerts">What happened: alerts</h3>
        <table className="mini-table case-alerts" data-testid="case-alerts">
          <thead>
            <tr>
              <th title={`The transaction's event time, ${zoneName}`}>Event time</th>
              <th>Score</th>
              <th>Type</th>
              <th className="num">Amount</th>
              <th>To</th>
              <th>IP</th>
            </tr>
          </thead>
          {data.alerts.map((alert) => (
            <tbody key={alert.id} data-testid="case-alert">
              <tr className="alert-main">
                <td title={timeTitle(alert.ts)}>{formatTime(alert.ts)}</td>
                <td>
                  <ScoreBadge score={alert.score} decision={alert.decision} />
                </td>
                <td>{alert.type}</td>
                <td className="num">{formatMoney(alert.amount, alert.currency)}</td>
                <td className="mono" title={alert.counterpartyId}>
                  {alert.counterpartyId}
                </td>
                <td className="mono">{alert.sourceIp ?? '—'}</td>
              </tr>
              <tr className="alert-why">
                <td colSpan={6} data-testid="alert-why">
                  Why: {alert.reasons.map((r) => r.text).join('; ') || 'no rule fired'}
                </td>
              </tr>
            </tbody>
          ))}
        </table>
      </section>

      <section aria-labelledby="case-timeline">
        <h3 id="case-timeline">{c.userId}’s transactions</h3>
        <table className="mini-table">
          <thead>
            <tr>
              <th title={`The transaction's event time, ${zoneName}`}>Event time</th>
              <th>Score</th>
              <th>Decision</th>
              <th>Type</th>
              <th className="num">Amount</th>
              <th>To</th>
            </tr>
          </thead>
          <tbody>
            {data.timeline.map((row) => (
              <tr key={row.txnId}>
                <td title={timeTitle(row.ts)}>{formatTime(row.ts)}</td>
                <td>
                  <ScoreBadge score={row.score} decision={row.decision} />
                </td>
                <td>
                  <DecisionChip decision={row.decision} />
                </td>
                <td>{row.type}</td>
                <td className="num">{formatMoney(row.amount, row.currency)}</td>
                <td className="mono">{row.counterpartyId}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <section aria-labelledby="case-audit">
        <h3 id="case-audit">What analysts did</h3>
        <AuditTrail events={data.events} />
        {!closed && <NoteForm onAdd={(text) => actions.addNote(c.id, text)} />}
      </section>

      {resolving && !closed && (
        <ResolveDialog
          detail={data}
          onResolve={actions.resolve}
          onResolved={onResolved}
          onClose={() => onResolving(false)}
        />
      )}
    </article>
  )
}
