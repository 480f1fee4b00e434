import { useMutation } from '@tanstack/react-query'
import { useEffect, useId, useRef, useState, type FormEvent } from 'react'
import { Transaction, TRANSACTION_TYPES } from '../../../../shared/transaction'
import { orpc } from '../../api/client'
import { describeError, validationIssues } from '../../api/errors'
import { plainMessage } from '../../api/plain-issues'

/** What the analyst types; every field is text until the shared Transaction schema accepts it. */
const FIELDS = [
  { key: 'user_id', label: 'User', placeholder: 'C1231006815' },
  { key: 'counterparty_id', label: 'Counterparty', placeholder: 'M1979787155' },
  { key: 'type', label: 'Type' },
  { key: 'amount', label: 'Amount', placeholder: '9839.64' },
  { key: 'currency', label: 'Currency', placeholder: 'USD' },
  { key: 'ts', label: 'Time' },
  { key: 'balance_before', label: 'Balance before', placeholder: 'optional' },
  { key: 'balance_after', label: 'Balance after', placeholder: 'optional' },
  { key: 'source_ip', label: 'Source IP', placeholder: 'optional' },
  { key: 'device_id', label: 'Device', placeholder: 'optional' },
  { key: 'merchant_type', label: 'Merchant type', placeholder: 'optional' },
] as const
type Field = (typeof FIELDS)[number]['key']
type Values = Record<Field, string>
type Errors = Partial<Record<Field, string>>

const localNow = () => {
  const now = new Date()
  return new Date(now.getTime() - now.getTimezoneOffset() * 60_000).toISOString().slice(0, 19)
}

const initial = (): Values => ({
  user_id: '',
  counterparty_id: '',
  type: 'TRANSFER',
  amount: '',
  currency: 'USD',
  ts: localNow(),
  balance_before: '',
  balance_after: '',
  source_ip: '',
  device_id: '',
  merchant_type: '',
})

/** The draft as the schema's input: empty optional fields are left out, the local time becomes an instant. */
function candidate(values: Values, txnId: string) {
  const optional = (value: string) => (value.trim() === '' ? undefined : value.trim())
  const when = new Date(values.ts)
  return {
    txn_id: txnId,
    ts: Number.isNaN(when.getTime()) ? values.ts : when.toISOString(),
    user_id: values.user_id.trim(),
    counterparty_id: values.counterparty_id.trim(),
    type: values.type,
    amount: values.amount.trim(),
    currency: values.currency.trim().toUpperCase(),
    balance_before: optional(values.balance_before),
    balance_after: optional(values.balance_after),
    source_ip: optional(values.source_ip),
    device_id: optional(values.device_id),
    merchant_type: optional(values.merchant_type),
  }
}

function errorsOf(issues: { path?: readonly unknown[] | undefined; message: string }[]): Errors {
  const errors: Errors = {}
  for (const issue of issues) {
    const field = FIELDS.find((f) => f.key === issue.path?.[0])?.key
    if (field !== undefined && errors[field] === undefined) errors[field] = plainMessage(issue.message)
  }
  return errors
}

/** A transaction typed in for a manual check or a demo; it enters the same pipeline as streamed ones. */
export function SubmitTransactionForm({ onClose }: { onClose: () => void }) {
  const formId = useId()
  const dialog = useRef<HTMLDialogElement>(null)
  const [values, setValues] = useState(initial)
  const [errors, setErrors] = useState<Errors>({})
  const [txnId, setTxnId] = useState(() => crypto.randomUUID())
  const submit = useMutation(
    orpc.triage.transactions.submit.mutationOptions({
      onSuccess: () => {
        setValues(initial())
        setTxnId(crypto.randomUUID())
      },
      onError: (error) => setErrors(errorsOf(validationIssues(error))),
    }),
  )

  useEffect(() => {
    dialog.current?.showModal()
  }, [])

  const validateField = (field: Field, next: Values) => {
    const parsed = Transaction.safeParse(candidate(next, txnId))
    const fieldErrors = parsed.success ? {} : errorsOf(parsed.error.issues)
    setErrors((current) => ({ ...current, [field]: fieldErrors[field] }))
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault()
    const parsed = Transaction.safeParse(candidate(values, txnId))
    if (!parsed.success) {
      const found = errorsOf(parsed.error.issues)
      setErrors(found)
      const first = FIELDS.find((f) => found[f.key])
      if (first) document.getElementById(`${formId}-${first.key}`)?.focus()
      return
    }
    setErrors({})
    submit.mutate(parsed.data)
  }

  return (
    <dialog
      ref={dialog}
      className="dialog wide"
      aria-labelledby={`${formId}-title`}
      onClose={onClose}
      data-testid="submit-dialog"
    >
      <h2 id={`${formId}-title`}>Submit a transaction</h2>
      <p className="subtle">
        It is scored by the same pipeline as streamed transactions and shows up in the grid.
      </p>
      <form className="submit-form" onSubmit={onSubmit} noValidate>
        {FIELDS.map((field) => {
          const id = `${formId}-${field.key}`
          const error = errors[field.key]
          const change = (value: string) => {
            const next = { ...values, [field.key]: value }
            setValues(next)
            if (error) validateField(field.key, next)
          }
          return (
            <div className="field" key={field.key}>
              <label htmlFor={id}>{field.label}</label>
              {field.key === 'type' ? (
                <select id={id} value={values.type} onChange={(e) => change(e.target.value)}>
                  {TRANSACTION_TYPES.map((type) => (
                    <option key={type}>{type}</option>
                  ))}
                </select>
              ) : (
                <input
                  id={id}
                  type={field.key === 'ts' ? 'datetime-local' : 'text'}
                  step={field.key === 'ts' ? 1 : undefined}
                  value={values[field.key]}
                  placeholder={'placeholder' in field ? field.placeholder : undefined}
                  onChange={(e) => change(e.target.value)}
                  onBlur={() => validateField(field.key, values)}
                  aria-invalid={error ? true : undefined}
                  aria-describedby={error ? `${id}-error` : undefined}
                  spellCheck={false}
                  autoComplete="off"
                  data-testid={`submit-${field.key}`}
                />
              )}
              {error && (
                <p id={`${id}-error`} className="field-error" data-testid={`submit-error-${field.key}`}>
                  {error}
                </p>
              )}
            </div>
          )
        })}
        <div className="form-actions span-all">
          <button
            type="submit"
            className="button primary"
            disabled={submit.isPending}
            data-testid="submit-transaction"
          >
            Submit
          </button>
          <button type="button" className="button" onClick={() => dialog.current?.close()}>
            Close
          </button>
          <span className="subtle" role="status" data-testid="submit-status">
            {submit.isPending
              ? 'Submitting…'
              : submit.isError
                ? describeError(submit.error)
                : submit.data
                  ? `Submitted ${submit.data.txnId} to the ${submit.data.route === 'stream' ? 'team stream' : 'local pipeline'}.`
                  : ''}
          </span>
        </div>
      </form>
    </dialog>
  )
}
