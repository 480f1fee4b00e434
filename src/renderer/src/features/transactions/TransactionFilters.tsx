import { useId, type RefObject } from 'react'
import { TRANSACTION_TYPES, type Decision, type TransactionType } from '../../../../shared/transaction'
import type { TransactionFilter } from '../../../../shared/triage-contract'
import { DECISION_LABELS, formatClock, formatTime } from '../../ui/format'

/** The quick filters as the analyst types them; toFilter() turns them into the contract's filter. */
export interface FilterDraft {
  decisions: Decision[]
  scoreMin: string
  scoreMax: string
  type: TransactionType | ''
  period: Period
  userId: string
  counterpartyId: string
  /** A fixed slice of event time, from a chart drill-down; it replaces the period while set. */
  window: { from: string; to: string } | null
}

export const PERIODS = {
  all: { label: 'Any time', seconds: null },
  '15m': { label: 'Last 15 min', seconds: 15 * 60 },
  '1h': { label: 'Last hour', seconds: 3600 },
  '24h': { label: 'Last 24 h', seconds: 86_400 },
  '7d': { label: 'Last 7 days', seconds: 7 * 86_400 },
} as const
export type Period = keyof typeof PERIODS

export const EMPTY_FILTER: FilterDraft = {
  decisions: [],
  scoreMin: '',
  scoreMax: '',
  type: '',
  period: 'all',
  userId: '',
  counterpartyId: '',
  window: null,
}

/** A score as typed: a whole number from 0 to 100, or nothing; anything else is refused, never bent. */
const score = (text: string) => {
  const value = Number(text)
  return text.trim() === '' || !Number.isInteger(value) || value < 0 || value > 100 ? undefined : value
}

const scoreValid = (text: string) => text.trim() === '' || score(text) !== undefined

/** What is wrong with the typed scores, in words, or nothing. */
export function scoreProblem(draft: FilterDraft): string | undefined {
  if (scoreValid(draft.scoreMin) && scoreValid(draft.scoreMax)) return undefined
  return 'A score is a whole number from 0 to 100; this one is not applied.'
}

export function toFilter(draft: FilterDraft, now = Date.now()): TransactionFilter {
  const seconds = PERIODS[draft.period].seconds
  const filter: TransactionFilter = {}
  if (draft.decisions.length > 0) filter.decisions = draft.decisions
  const min = score(draft.scoreMin)
  const max = score(draft.scoreMax)
  if (min !== undefined) filter.scoreMin = min
  if (max !== undefined) filter.scoreMax = max
  if (min !== undefined && max !== undefined && min > max) {
    filter.scoreMin = max
    filter.scoreMax = min
  }
  if (draft.type !== '') filter.types = [draft.type]
  if (draft.window !== null) {
    filter.from = draft.window.from
    filter.to = draft.window.to
  } else if (seconds !== null) filter.from = new Date(now - seconds * 1000).toISOString()
  if (draft.userId.trim() !== '') filter.userId = draft.userId.trim()
  if (draft.counterpartyId.trim() !== '') filter.counterpartyId = draft.counterpartyId.trim()
  return filter
}

interface TransactionFiltersProps {
  draft: FilterDraft
  onChange: (draft: FilterDraft) => void
  userInput: RefObject<HTMLInputElement | null>
}

export function TransactionFilters({ draft, onChange, userInput }: TransactionFiltersProps) {
  const id = useId()
  const set = <K extends keyof FilterDraft>(key: K, value: FilterDraft[K]) =>
    onChange({ ...draft, [key]: value })
  const toggle = (decision: Decision) =>
    set(
      'decisions',
      draft.decisions.includes(decision)
        ? draft.decisions.filter((d) => d !== decision)
        : [...draft.decisions, decision],
    )
  return (
    <form
      className="filter-bar"
      role="search"
      aria-label="Filter transactions"
      onSubmit={(e) => e.preventDefault()}
    >
      <fieldset className="filter-group">
        <legend className="visually-hidden">Decision</legend>
        {(['block', 'review', 'approve'] as const).map((decision) => (
          <label key={decision} className="filter-toggle" data-decision={decision}>
            <input
              type="checkbox"
              checked={draft.decisions.includes(decision)}
              onChange={() => toggle(decision)}
              data-testid={`filter-decision-${decision}`}
            />
            {DECISION_LABELS[decision]}
          </label>
        ))}
      </fieldset>
      <label className="filter-field">
        Score
        <input
          className="narrow"
          inputMode="numeric"
          placeholder="0"
          aria-label="Lowest score"
          value={draft.scoreMin}
          aria-invalid={!scoreValid(draft.scoreMin) || undefined}
          onChange={(e) => set('scoreMin', e.target.value)}
          data-testid="filter-score-min"
        />
        –
        <input
          className="narrow"
          inputMode="numeric"
          placeholder="100"
          aria-label="Highest score"
          value={draft.scoreMax}
          aria-invalid={!scoreValid(draft.scoreMax) || undefined}
          onChange={(e) => set('scoreMax', e.target.value)}
          data-testid="filter-score-max"
        />
      </label>
      {scoreProblem(draft) && (
        <span className="inline-error" role="alert" data-testid="filter-score-error">
          {scoreProblem(draft)}
        </span>
      )}
      <label className="filter-field" htmlFor={`${id}-type`}>
        Type
      </label>
      <select
        id={`${id}-type`}
        value={draft.type}
        onChange={(e) => set('type', TRANSACTION_TYPES.find((t) => t === e.target.value) ?? '')}
        data-testid="filter-type"
      >
        <option value="">All types</option>
        {TRANSACTION_TYPES.map((type) => (
          <option key={type} value={type}>
            {type}
          </option>
        ))}
      </select>
      {draft.window !== null && (
        <button
          type="button"
          className="button filter-window"
          title="Remove this time window"
          onClick={() => set('window', null)}
          data-testid="filter-window"
        >
          {formatTime(draft.window.from)} – {formatClock(draft.window.to)} ×
        </button>
      )}
      <select
        aria-label="Time range"
        value={draft.period}
        onChange={(e) =>
          set('period', (Object.keys(PERIODS) as Period[]).find((p) => p === e.target.value) ?? 'all')
        }
        data-testid="filter-period"
      >
        {(Object.keys(PERIODS) as Period[]).map((period) => (
          <option key={period} value={period}>
            {PERIODS[period].label}
          </option>
        ))}
      </select>
      <input
        ref={userInput}
        placeholder="User (/)"
        aria-label="User"
        aria-keyshortcuts="/"
        value={draft.userId}
        onChange={(e) => set('userId', e.target.value)}
        data-testid="filter-user"
      />
      <input
        placeholder="Counterparty"
        aria-label="Counterparty"
        value={draft.counterpartyId}
        onChange={(e) => set('counterpartyId', e.target.value)}
        data-testid="filter-counterparty"
      />
      <button type="button" className="button" onClick={() => onChange(EMPTY_FILTER)}>
        Clear
      </button>
    </form>
  )
}
