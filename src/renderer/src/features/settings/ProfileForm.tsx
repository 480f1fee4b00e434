import { useMutation } from '@tanstack/react-query'
import { useId, useState, type FormEvent } from 'react'
import type { Profile, TeamProfile, TeamProfileDraft } from '../../../../shared/profile'
import { orpc } from '../../api/client'
import { describeError, validationIssues } from '../../api/errors'
import { ConnectionReportView } from './ConnectionReportView'
import { ProfileField } from './ProfileField'
import {
  DRAFT_FIELDS,
  draftValuesOf,
  fieldErrorsFrom,
  parseDraft,
  type DraftField as Field,
  type FieldErrors,
} from './profileDraft'
import { useRefreshAfterProfileChange } from './useRefreshAfterProfileChange'

interface ProfileFormProps {
  /** The team profile being edited; a new one is created when absent. */
  editing: TeamProfile | undefined
  onSaved: (profile: Profile) => void
  onCancel: () => void
}

function passwordHint(editing: TeamProfile | undefined, saved: boolean | undefined): string {
  if (!editing) return 'Optional. Kept in the OS keychain, never in the profile file.'
  return saved ? 'Leave blank to keep the saved password.' : 'No password saved; leave blank for none.'
}

export function ProfileForm({ editing, onSaved, onCancel }: ProfileFormProps) {
  const formId = useId()
  const [values, setValues] = useState(() => draftValuesOf(editing))
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({})
  const [formError, setFormError] = useState<string>()
  const refresh = useRefreshAfterProfileChange()

  const showServerError = (error: unknown) => {
    setFieldErrors(fieldErrorsFrom(validationIssues(error)))
    setFormError(describeError(error))
  }
  const test = useMutation(orpc.profiles.test.mutationOptions({ onError: showServerError }))
  const saved = {
    onSuccess: async (profile: Profile) => {
      await refresh()
      onSaved(profile)
    },
    onError: showServerError,
  }
  const create = useMutation(orpc.profiles.create.mutationOptions(saved))
  const update = useMutation(orpc.profiles.update.mutationOptions(saved))
  const saving = create.isPending || update.isPending
  const busy = test.isPending || saving

  const fieldId = (field: Field) => `${formId}-${field}`

  function change(field: Field, value: string) {
    setValues((current) => ({ ...current, [field]: value }))
    setFieldErrors((current) => ({ ...current, [field]: undefined }))
  }

  /** Runs the action only on a draft the shared schema accepts, pointing at the first bad field otherwise. */
  function withValidDraft(action: (draft: TeamProfileDraft) => void) {
    setFormError(undefined)
    const parsed = parseDraft(values)
    if (!parsed.ok) {
      setFieldErrors(parsed.errors)
      const firstInvalid = DRAFT_FIELDS.find((field) => parsed.errors[field])
      if (firstInvalid) document.getElementById(fieldId(firstInvalid))?.focus()
      return
    }
    setFieldErrors({})
    action(parsed.draft)
  }

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    withValidDraft((draft) => (editing ? update.mutate({ id: editing.id, draft }) : create.mutate(draft)))
  }

  const fieldProps = (field: Field) => ({
    id: fieldId(field),
    field,
    value: values[field],
    error: fieldErrors[field],
    onChange: change,
  })

  return (
    <form className="profile-form" data-testid="profile-form" onSubmit={submit} noValidate aria-busy={busy}>
      <ProfileField
        {...fieldProps('name')}
        label="Name"
        placeholder="Fraud team EU"
        autoFocus={editing !== undefined}
      />
      <div className="field-pair">
        <ProfileField
          {...fieldProps('postgresUrl')}
          label="PostgreSQL URL"
          placeholder="postgres://analyst@db.example:5432/aether"
          hint="A password typed in the URL is moved to the keychain."
        />
        <ProfileField
          {...fieldProps('postgresPassword')}
          label="PostgreSQL password"
          type="password"
          hint={passwordHint(editing, editing?.hasPostgresPassword)}
        />
      </div>
      <div className="field-pair">
        <ProfileField
          {...fieldProps('redisUrl')}
          label="Redis URL"
          placeholder="redis://redis.example:6379/0"
        />
        <ProfileField
          {...fieldProps('redisPassword')}
          label="Redis password"
          type="password"
          hint={passwordHint(editing, editing?.hasRedisPassword)}
        />
      </div>
      {formError && (
        <p className="inline-error" role="alert" data-testid="form-error">
          {formError}
        </p>
      )}
      <div className="form-actions">
        <button
          type="button"
          className="button"
          disabled={busy}
          onClick={() => withValidDraft((draft) => test.mutate({ draft, id: editing?.id }))}
        >
          Test connection
        </button>
        <button type="submit" className="button primary" disabled={busy}>
          Save profile
        </button>
        {editing && (
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
        )}
        <span className="subtle" role="status">
          {test.isPending ? 'Testing the connection…' : saving ? 'Saving…' : ''}
        </span>
      </div>
      <div aria-live="polite">
        {test.data && !test.isPending && <ConnectionReportView report={test.data} />}
      </div>
    </form>
  )
}
