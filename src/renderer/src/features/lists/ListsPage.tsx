import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useId, useState, type FormEvent, type ReactNode } from 'react'
import { ListEntryDraft, ListKind, type ListEntry } from '../../../../shared/triage-contract'
import { orpc } from '../../api/client'
import { plainMessage } from '../../api/plain-issues'
import { describeError, validationIssues } from '../../api/errors'
import { EmptyState } from '../../app/EmptyState'
import { ErrorState } from '../../app/ErrorState'
import { LoadingSkeleton } from '../../app/LoadingSkeleton'
import { Page } from '../../app/Page'
import { formatTime, timeTitle, zoneName } from '../../ui/format'
import { useMayAdminister } from '../../app/useMayAdminister'

const KIND_LABELS: Record<ListKind, string> = {
  user: 'User',
  counterparty: 'Counterparty',
  ip: 'IP or network',
  device: 'Device',
}

/** An expiry typed as a local date-time, as an instant; empty means never. */
const instantOf = (local: string) => (local === '' ? null : new Date(local).toISOString())

function AddEntry({ onAdded }: { onAdded: () => void }) {
  const id = useId()
  const [kind, setKind] = useState<ListKind>('user')
  const [value, setValue] = useState('')
  const [reason, setReason] = useState('')
  const [expires, setExpires] = useState('')
  const [errors, setErrors] = useState<Record<string, string>>({})
  const add = useMutation(
    orpc.triage.lists.add.mutationOptions({
      onSuccess: () => {
        setValue('')
        setReason('')
        setExpires('')
        onAdded()
      },
      onError: (error) =>
        setErrors(
          Object.fromEntries(
            validationIssues(error).map((issue) => [String(issue.path?.[0]), plainMessage(issue.message)]),
          ),
        ),
    }),
  )
  function submit(event: FormEvent) {
    event.preventDefault()
    const parsed = ListEntryDraft.safeParse({ kind, value, reason, expiresAt: instantOf(expires) })
    if (!parsed.success) {
      setErrors(
        Object.fromEntries(
          parsed.error.issues.map((issue) => [String(issue.path[0]), plainMessage(issue.message)]),
        ),
      )
      return
    }
    setErrors({})
    add.mutate(parsed.data)
  }
  const field = (name: string, label: string, input: ReactNode) => (
    <div className="field">
      <label htmlFor={`${id}-${name}`}>{label}</label>
      {input}
      {errors[name] && (
        <p className="field-error" data-testid={`list-error-${name}`}>
          {errors[name]}
        </p>
      )}
    </div>
  )
  return (
    <form className="list-form" onSubmit={submit} noValidate data-testid="list-form">
      {field(
        'kind',
        'Kind',
        <select
          id={`${id}-kind`}
          value={kind}
          onChange={(e) => setKind(ListKind.catch('user').parse(e.target.value))}
        >
          {ListKind.options.map((k) => (
            <option key={k} value={k}>
              {KIND_LABELS[k]}
            </option>
          ))}
        </select>,
      )}
      {field(
        'value',
        'Value',
        <input
          id={`${id}-value`}
          value={value}
          placeholder={kind === 'ip' ? '203.0.113.0/24' : 'C1231006815'}
          onChange={(e) => setValue(e.target.value)}
          aria-invalid={errors.value ? true : undefined}
          data-testid="list-value"
        />,
      )}
      {field(
        'reason',
        'Reason',
        <input
          id={`${id}-reason`}
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          aria-invalid={errors.reason ? true : undefined}
          data-testid="list-reason"
        />,
      )}
      {field(
        'expiresAt',
        `Expires (${zoneName}; empty: never)`,
        <input
          id={`${id}-expiresAt`}
          type="datetime-local"
          value={expires}
          onChange={(e) => setExpires(e.target.value)}
        />,
      )}
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={add.isPending} data-testid="list-add">
          Add to list
        </button>
        {add.isError && validationIssues(add.error).length === 0 && (
          <span className="inline-error" role="alert">
            {describeError(add.error)}
          </span>
        )}
      </div>
    </form>
  )
}

function EntryRow({
  entry,
  onChanged,
  editable,
}: {
  entry: ListEntry
  onChanged: () => void
  editable: boolean
}) {
  const [confirming, setConfirming] = useState(false)
  const remove = useMutation(orpc.triage.lists.remove.mutationOptions({ onSuccess: onChanged }))
  const expireNow = useMutation(orpc.triage.lists.update.mutationOptions({ onSuccess: onChanged }))
  const failure = remove.error ?? expireNow.error
  return (
    <tr data-testid="list-entry" data-kind={entry.kind} data-value={entry.value} data-expired={entry.expired}>
      <td>{KIND_LABELS[entry.kind]}</td>
      <td className="mono">{entry.value}</td>
      <td className="wrap">{entry.reason}</td>
      <td>{entry.createdBy}</td>
      <td title={timeTitle(entry.createdAt)}>{formatTime(entry.createdAt)}</td>
      <td title={timeTitle(entry.expiresAt)} className={entry.expired ? 'subtle' : undefined}>
        {entry.expiresAt ? `${formatTime(entry.expiresAt)}${entry.expired ? ' (expired)' : ''}` : 'never'}
      </td>
      <td>
        {!editable ? null : confirming ? (
          <span className="confirm">
            Remove?
            <button type="button" className="button danger" onClick={() => remove.mutate({ id: entry.id })}>
              Remove
            </button>
            <button type="button" className="button" onClick={() => setConfirming(false)}>
              Keep
            </button>
          </span>
        ) : (
          <span className="row-actions">
            {!entry.expired && (
              <button
                type="button"
                className="button"
                onClick={() =>
                  expireNow.mutate({
                    id: entry.id,
                    reason: entry.reason,
                    expiresAt: new Date().toISOString(),
                  })
                }
                title="Stop blocking, keep the record"
              >
                Expire now
              </button>
            )}
            <button type="button" className="button" onClick={() => setConfirming(true)}>
              Remove
            </button>
          </span>
        )}
        {failure && <span className="inline-error">{describeError(failure)}</span>}
      </td>
    </tr>
  )
}

export function ListsPage() {
  const queryClient = useQueryClient()
  const [kind, setKind] = useState<ListKind | ''>('')
  const [search, setSearch] = useState('')
  const input = { ...(kind ? { kind } : {}), ...(search.trim() ? { search: search.trim() } : {}) }
  const entries = useQuery(orpc.triage.lists.list.queryOptions({ input }))
  const refresh = () => void queryClient.invalidateQueries({ queryKey: orpc.triage.lists.key() })
  const mayAdminister = useMayAdminister()
  return (
    <Page title="Lists">
      {mayAdminister ? (
        <section className="panel wide-panel" aria-labelledby="lists-add">
          <h2 id="lists-add">Block a user, counterparty, IP or device</h2>
          <AddEntry onAdded={refresh} />
        </section>
      ) : (
        <p className="subtle" data-testid="lists-admins-only">
          The team’s admins keep these lists. Closing a case as fraud blocks its user, counterparty, IP or
          device.
        </p>
      )}
      <div className="toolbar">
        <select
          aria-label="Kind"
          value={kind}
          onChange={(e) => setKind(ListKind.safeParse(e.target.value).data ?? '')}
        >
          <option value="">All kinds</option>
          {ListKind.options.map((k) => (
            <option key={k} value={k}>
              {KIND_LABELS[k]}
            </option>
          ))}
        </select>
        <input
          placeholder="Search value or reason"
          aria-label="Search lists"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
      </div>
      {entries.isPending ? (
        <LoadingSkeleton label="Loading the lists" rows={6} />
      ) : entries.isError ? (
        <ErrorState
          title="Lists could not be loaded"
          message={describeError(entries.error)}
          onRetry={() => void entries.refetch()}
        />
      ) : entries.data.length === 0 ? (
        <EmptyState title="Nothing is listed">
          {mayAdminister ? 'Add an entry above, or close' : 'Close'} a case as fraud and choose what to block.
        </EmptyState>
      ) : (
        <table className="mini-table lists-table" data-testid="list-entries">
          <thead>
            <tr>
              <th>Kind</th>
              <th>Value</th>
              <th>Reason</th>
              <th>By</th>
              <th>Added ({zoneName})</th>
              <th>Expires ({zoneName})</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {entries.data.map((entry) => (
              <EntryRow key={entry.id} entry={entry} onChanged={refresh} editable={mayAdminister} />
            ))}
          </tbody>
        </table>
      )}
    </Page>
  )
}
