import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { ORPCError } from '@orpc/client'
import { useId, useState, type FormEvent } from 'react'
import {
  API_KEY_SCOPES,
  CreateApiKeyInput,
  type ApiKey,
  type ApiKeyScope,
  type CreatedApiKey,
} from '../../../../shared/gateway-contract'
import { orpc } from '../../api/client'
import { describeError, validationIssues } from '../../api/errors'
import { ErrorState } from '../../app/ErrorState'
import { LoadingSkeleton } from '../../app/LoadingSkeleton'
import { formatAge, formatTimeZoned, timeTitle } from '../../ui/format'
import { useSession } from './useSession'
import './api-keys.css'

const SCOPE_LABELS: Record<ApiKeyScope, string> = {
  submit: 'Send transactions',
  read: 'Read decisions',
}

const scopeWords = (scopes: string[]) =>
  scopes.map((scope) => SCOPE_LABELS[scope as ApiKeyScope] ?? scope).join(' and ')

function ApiKeyRow({ apiKey }: { apiKey: ApiKey }) {
  const queryClient = useQueryClient()
  const [confirming, setConfirming] = useState(false)
  const revoke = useMutation(
    orpc.apiKeys.revoke.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: orpc.apiKeys.list.key() }),
      onSettled: () => setConfirming(false),
    }),
  )
  const revoked = apiKey.revokedAt !== null
  return (
    <li
      className="profile-row"
      data-testid={`api-key-row-${apiKey.name}`}
      data-revoked={String(revoked)}
      aria-label={`API key ${apiKey.name}`}
    >
      <div className="profile-summary">
        <span className="profile-name">{apiKey.name}</span>
        <span className="profile-target api-key-facts">
          {scopeWords(apiKey.scopes)} · created by <span className="mono">{apiKey.createdBy}</span>{' '}
          <span title={timeTitle(apiKey.createdAt)}>on {formatTimeZoned(apiKey.createdAt)}</span> ·{' '}
          {apiKey.lastUsedAt === null ? (
            'never used'
          ) : (
            <span title={timeTitle(apiKey.lastUsedAt)}>last used {formatAge(apiKey.lastUsedAt)}</span>
          )}
        </span>
        {revoked ? (
          <span className="badge api-key-revoked" title={timeTitle(apiKey.revokedAt)}>
            Revoked {formatTimeZoned(apiKey.revokedAt)}
          </span>
        ) : (
          <span className="row-actions">
            <button
              type="button"
              className="button"
              aria-expanded={confirming}
              disabled={revoke.isPending}
              onClick={() => setConfirming(true)}
            >
              Revoke
            </button>
          </span>
        )}
      </div>
      {confirming && !revoked && (
        <div
          className="confirm"
          role="group"
          aria-label={`Confirm revoking ${apiKey.name}`}
          onKeyDown={(event) => {
            if (event.key === 'Escape') setConfirming(false)
          }}
        >
          <span>
            Revoke “{apiKey.name}”? Every gateway refuses it within a second, so whatever system uses it can
            no longer send transactions or read decisions. This cannot be undone.
          </span>
          <button
            type="button"
            className="button danger"
            disabled={revoke.isPending}
            onClick={() => revoke.mutate({ id: apiKey.id })}
          >
            Revoke key
          </button>
          <button type="button" className="button" onClick={() => setConfirming(false)}>
            Keep it
          </button>
        </div>
      )}
      {revoke.error && (
        <p className="inline-error" role="alert">
          {describeError(revoke.error)}
        </p>
      )}
    </li>
  )
}

/** The new key, shown this once: only its hash is stored, so nobody can show it again. */
function NewKey({ created, onDone }: { created: CreatedApiKey; onDone: () => void }) {
  const [copied, setCopied] = useState<string>()
  async function copy() {
    try {
      await navigator.clipboard.writeText(created.secret)
      setCopied('Copied.')
    } catch {
      setCopied('This browser did not allow copying: select the key and copy it by hand.')
    }
  }
  return (
    <div className="api-key-once" role="region" aria-label="The new key" data-testid="new-api-key">
      <p className="api-key-warning">
        <strong>Copy this key now: it cannot be shown again.</strong> Only a fingerprint of it is kept, so
        nobody, not even an administrator, can see it after you leave this page. If it is lost, revoke “
        {created.apiKey.name}” and create another.
      </p>
      <div className="form-actions">
        <code className="api-key-secret" data-testid="new-api-key-secret">
          {created.secret}
        </code>
        <button type="button" className="button primary" onClick={() => void copy()}>
          Copy key
        </button>
        <button type="button" className="button" onClick={onDone}>
          Done
        </button>
        <span className="subtle" role="status">
          {copied}
        </span>
      </div>
      <p className="field-hint">
        The system sends it with each request as <span className="mono">Authorization: Bearer</span> followed
        by the key.
      </p>
    </div>
  )
}

type Field = 'name' | 'scopes'
type FieldErrors = Partial<Record<Field, string>>

/** Field errors from the shared schema's issues (the form's own check, or the workstation's). */
function fieldErrorsOf(issues: { message: string; path?: readonly unknown[] }[]): FieldErrors {
  const errors: FieldErrors = {}
  for (const issue of issues) {
    const field = issue.path?.[0]
    if ((field === 'name' || field === 'scopes') && errors[field] === undefined) errors[field] = issue.message
  }
  return errors
}

function CreateKeyForm({ onCreated }: { onCreated: (created: CreatedApiKey) => void }) {
  const formId = useId()
  const queryClient = useQueryClient()
  const [name, setName] = useState('')
  const [scopes, setScopes] = useState<ApiKeyScope[]>(['submit', 'read'])
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({})
  const [formError, setFormError] = useState<string>()
  const create = useMutation({
    // The answer holds the key: not kept in the mutation cache once this form is gone.
    gcTime: 0,
    ...orpc.apiKeys.create.mutationOptions({
      onSuccess: async (created) => {
        setName('')
        onCreated(created)
        await queryClient.invalidateQueries({ queryKey: orpc.apiKeys.list.key() })
      },
      onError: (error) => {
        const fromSchema = fieldErrorsOf(validationIssues(error))
        // A live key of that name already exists: that is about the name.
        if (error instanceof ORPCError && error.code === 'CONFLICT') fromSchema.name = error.message
        setFieldErrors(fromSchema)
        setFormError(Object.keys(fromSchema).length > 0 ? undefined : describeError(error))
      },
    }),
  })

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    setFormError(undefined)
    const parsed = CreateApiKeyInput.safeParse({ name, scopes })
    if (!parsed.success) {
      const errors = fieldErrorsOf(parsed.error.issues as { message: string; path: unknown[] }[])
      setFieldErrors(errors)
      document.getElementById(`${formId}-${errors.name ? 'name' : 'submit'}`)?.focus()
      return
    }
    setFieldErrors({})
    create.mutate(parsed.data)
  }

  const toggle = (scope: ApiKeyScope, on: boolean) => {
    setScopes((current) => API_KEY_SCOPES.filter((each) => (each === scope ? on : current.includes(each))))
    setFieldErrors((current) => ({ ...current, scopes: undefined }))
  }

  return (
    <form
      className="profile-form"
      data-testid="create-api-key-form"
      onSubmit={submit}
      noValidate
      aria-busy={create.isPending}
    >
      <div className="field">
        <label htmlFor={`${formId}-name`}>Name (what the key is for, such as the system that uses it)</label>
        <input
          id={`${formId}-name`}
          value={name}
          maxLength={63}
          autoComplete="off"
          spellCheck={false}
          placeholder="payments-eu"
          aria-invalid={fieldErrors.name ? true : undefined}
          aria-describedby={fieldErrors.name ? `${formId}-name-error` : undefined}
          onChange={(event) => {
            setName(event.target.value)
            setFieldErrors((current) => ({ ...current, name: undefined }))
          }}
        />
        {fieldErrors.name && (
          <p id={`${formId}-name-error`} className="field-error" data-testid="field-error-key-name">
            {fieldErrors.name}
          </p>
        )}
      </div>
      <fieldset
        className="field api-key-scopes"
        aria-describedby={fieldErrors.scopes ? `${formId}-scopes-error` : undefined}
      >
        <legend>It may</legend>
        {API_KEY_SCOPES.map((scope) => (
          <label key={scope}>
            <input
              type="checkbox"
              checked={scopes.includes(scope)}
              onChange={(event) => toggle(scope, event.target.checked)}
            />{' '}
            {SCOPE_LABELS[scope]}
          </label>
        ))}
        {fieldErrors.scopes && (
          <p id={`${formId}-scopes-error`} className="field-error" data-testid="field-error-key-scopes">
            {fieldErrors.scopes}
          </p>
        )}
      </fieldset>
      {formError && (
        <p className="inline-error" role="alert">
          {formError}
        </p>
      )}
      <div className="form-actions">
        <button id={`${formId}-submit`} type="submit" className="button primary" disabled={create.isPending}>
          Create key
        </button>
        <span className="subtle" role="status">
          {create.isPending ? 'Creating…' : ''}
        </span>
      </div>
    </form>
  )
}

/** Gateways write each key's last use every 5 s: the list follows while it is open. */
const LIST_REFRESH_MS = 5000

function ApiKeyList() {
  const keys = useQuery({ ...orpc.apiKeys.list.queryOptions(), refetchInterval: LIST_REFRESH_MS })
  if (keys.isPending) return <LoadingSkeleton label="Loading API keys" rows={2} />
  if (keys.isError)
    return (
      <ErrorState
        title="The API keys could not be loaded"
        message={describeError(keys.error)}
        onRetry={() => void keys.refetch()}
      />
    )
  if (keys.data.length === 0) return <p className="subtle">No API keys yet: create the first one below.</p>
  return (
    <ul className="profile-list" aria-label="API keys">
      {keys.data.map((apiKey) => (
        <ApiKeyRow key={apiKey.id} apiKey={apiKey} />
      ))}
    </ul>
  )
}

/**
 * Settings → API keys, for admins of a team database: the keys payment systems present to the Decision
 * API. PostgreSQL refuses anyone else whatever this UI shows; for them it shows nothing.
 */
export function ApiKeysPanel() {
  const headingId = useId()
  const status = useQuery({ ...orpc.app.status.queryOptions(), staleTime: Infinity }).data
  const session = useSession(status)
  const [created, setCreated] = useState<CreatedApiKey>()
  if (status?.mode !== 'team' || status.state !== 'ready' || session.data?.canAdminister !== true) return null
  return (
    <section className="panel" aria-labelledby={headingId} data-testid="api-keys-panel">
      <h2 id={headingId}>API keys</h2>
      <p className="subtle">
        Payment systems send transactions to the team’s Decision API, and read its decisions, with one of
        these keys. Revoking a key stops it on every gateway within a second.
      </p>
      <ApiKeyList />
      {created ? (
        <NewKey created={created} onDone={() => setCreated(undefined)} />
      ) : (
        <CreateKeyForm onCreated={setCreated} />
      )}
    </section>
  )
}
