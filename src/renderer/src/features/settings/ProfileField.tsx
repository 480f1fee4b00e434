import type { DraftField } from './profileDraft'

interface ProfileFieldProps {
  id: string
  field: DraftField
  label: string
  value: string
  onChange: (field: DraftField, value: string) => void
  error: string | undefined
  hint?: string
  type?: 'text' | 'password'
  placeholder?: string
  autoFocus?: boolean
}

export function ProfileField({
  id,
  field,
  label,
  value,
  onChange,
  error,
  hint,
  type = 'text',
  ...rest
}: ProfileFieldProps) {
  const hintId = `${id}-hint`
  const errorId = `${id}-error`
  const describedBy = [hint && hintId, error && errorId].filter(Boolean).join(' ')
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type={type}
        value={value}
        onChange={(event) => onChange(field, event.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy || undefined}
        autoComplete={type === 'password' ? 'new-password' : 'off'}
        spellCheck={false}
        {...rest}
      />
      {hint && (
        <p id={hintId} className="field-hint">
          {hint}
        </p>
      )}
      {error && (
        <p id={errorId} className="field-error" data-testid={`field-error-${field}`}>
          {error}
        </p>
      )}
    </div>
  )
}
