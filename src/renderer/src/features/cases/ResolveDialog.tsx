import { useEffect, useId, useRef, useState, type FormEvent } from 'react'
import {
  CASE_OUTCOMES,
  type CaseDetail,
  type CaseOutcome,
  type CaseTransition,
} from '../../../../shared/triage-contract'

export const OUTCOME_LABELS: Record<CaseOutcome, string> = {
  fraud_confirmed: 'Fraud confirmed',
  false_positive: 'False positive',
  inconclusive: 'Inconclusive',
}

const EXPIRY_CHOICES = [
  { days: undefined, label: 'Never' },
  { days: 30, label: '30 days' },
  { days: 90, label: '90 days' },
  { days: 365, label: '1 year' },
] as const

const unique = (values: (string | null)[]) => [...new Set(values.filter((v): v is string => v !== null))]

/**
 * Closing a case: the outcome, a note, and for fraud the identities it involved that should go on a
 * blocklist, so the next transaction from them is blocked.
 */
export function ResolveDialog({
  detail,
  onResolve,
  onResolved,
  onClose,
}: {
  detail: CaseDetail
  /** Resolves with undefined when the change was refused. */
  onResolve: (input: CaseTransition) => Promise<unknown>
  onResolved?: () => void
  onClose: () => void
}) {
  const id = useId()
  const dialog = useRef<HTMLDialogElement>(null)
  const [outcome, setOutcome] = useState<CaseOutcome>('fraud_confirmed')
  const [note, setNote] = useState('')
  const [blockUser, setBlockUser] = useState(true)
  const [blocked, setBlocked] = useState<Set<string>>(new Set())
  const [expiry, setExpiry] = useState<number | undefined>(undefined)
  const counterparties = unique(detail.alerts.map((alert) => alert.counterpartyId))
  const ips = unique(detail.alerts.map((alert) => alert.sourceIp))
  const devices = unique(detail.alerts.map((alert) => alert.deviceId))
  const relatedUsers = unique(detail.related.map((other) => other.userId))
  const listed = new Set(detail.listed.map((entry) => `${entry.kind}:${entry.value}`))

  useEffect(() => {
    dialog.current?.showModal()
  }, [])

  const toggle = (key: string) =>
    setBlocked((current) => {
      const next = new Set(current)
      if (next.has(key)) next.delete(key)
      else next.add(key)
      return next
    })

  async function submit(event: FormEvent) {
    event.preventDefault()
    const fraud = outcome === 'fraud_confirmed'
    const picked = (kind: string) =>
      [...blocked].filter((key) => key.startsWith(`${kind}:`)).map((key) => key.slice(kind.length + 1))
    const blocklist =
      fraud && (blockUser || blocked.size > 0)
        ? {
            user: blockUser,
            counterparties: picked('counterparty'),
            ips: picked('ip'),
            devices: picked('device'),
            relatedUsers: picked('related'),
            ...(expiry === undefined ? {} : { expiresInDays: expiry }),
          }
        : undefined
    const resolved = await onResolve({
      id: detail.case.id,
      version: detail.case.version,
      status: 'closed',
      outcome,
      ...(note.trim() ? { note: note.trim() } : {}),
      ...(blocklist ? { blocklist } : {}),
    })
    dialog.current?.close()
    if (resolved !== undefined) onResolved?.()
  }

  const option = (kind: string, value: string, label: string) => {
    const key = `${kind}:${value}`
    return (
      <label key={key} className="check-line">
        <input
          type="checkbox"
          checked={blocked.has(key)}
          onChange={() => toggle(key)}
          data-testid={`block-${kind}-${value}`}
        />
        {label} <span className="mono">{value}</span>
        {listed.has(kind === 'related' ? `user:${value}` : key) && (
          <span className="subtle"> (listed already)</span>
        )}
      </label>
    )
  }

  return (
    <dialog
      ref={dialog}
      className="dialog"
      aria-labelledby={`${id}-title`}
      onClose={onClose}
      data-testid="resolve-dialog"
    >
      <h2 id={`${id}-title`}>Resolve case #{detail.case.id}</h2>
      <form className="resolve-form" onSubmit={(event) => void submit(event)}>
        <fieldset>
          <legend>Outcome</legend>
          {CASE_OUTCOMES.map((value) => (
            <label key={value} className="check-line">
              <input
                type="radio"
                name={`${id}-outcome`}
                value={value}
                checked={outcome === value}
                onChange={() => setOutcome(value)}
                data-testid={`outcome-${value}`}
              />
              {OUTCOME_LABELS[value]}
            </label>
          ))}
        </fieldset>
        {outcome === 'fraud_confirmed' && (
          <fieldset data-testid="blocklist-choices">
            <legend>Add to the blocklist</legend>
            <label className="check-line">
              <input
                type="checkbox"
                checked={blockUser}
                onChange={() => setBlockUser((v) => !v)}
                data-testid="block-user"
              />
              User <span className="mono">{detail.case.userId}</span>
              {listed.has(`user:${detail.case.userId}`) && <span className="subtle"> (listed already)</span>}
            </label>
            {relatedUsers.map((value) => {
              const other = detail.related.find((r) => r.userId === value)
              return option('related', value, `The other side, case #${other?.id ?? ''}: user`)
            })}
            {counterparties.map((value) => option('counterparty', value, 'Counterparty'))}
            {ips.map((value) => option('ip', value, 'IP'))}
            {devices.map((value) => option('device', value, 'Device'))}
            <label className="check-line">
              Expires
              <select
                value={expiry ?? ''}
                onChange={(e) => setExpiry(e.target.value === '' ? undefined : Number(e.target.value))}
              >
                {EXPIRY_CHOICES.map((choice) => (
                  <option key={choice.label} value={choice.days ?? ''}>
                    {choice.label}
                  </option>
                ))}
              </select>
            </label>
          </fieldset>
        )}
        <label className="field">
          Note
          <textarea
            value={note}
            onChange={(e) => setNote(e.target.value)}
            rows={3}
            maxLength={500}
            data-testid="resolve-note"
          />
        </label>
        <div className="dialog-actions">
          <button type="button" className="button" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
          <button type="submit" className="button primary" data-testid="resolve-confirm">
            Close as {OUTCOME_LABELS[outcome].toLowerCase()}
          </button>
        </div>
      </form>
    </dialog>
  )
}
