import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useId, useState, type FormEvent } from 'react'
import { WebhookChange } from '../../../../shared/triage-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { formatTimeZoned } from '../../ui/format'

/** The team's Slack-compatible webhook for block-level alerts (one message per alert, whoever is on shift). */
export function WebhookSettings() {
  const id = useId()
  const queryClient = useQueryClient()
  const current = useQuery(orpc.triage.settings.webhook.queryOptions())
  const [draft, setDraft] = useState<string>()
  const [error, setError] = useState<string>()
  const save = useMutation(
    orpc.triage.settings.setWebhook.mutationOptions({
      onSuccess: (saved) => {
        queryClient.setQueryData(orpc.triage.settings.webhook.queryKey(), saved)
        setDraft(undefined)
      },
      onError: (failure) => setError(describeError(failure)),
    }),
  )
  const value = draft ?? current.data?.url ?? ''
  // Without an open store (the profile failed to open) there is no team setting to show.
  if (current.isError) return null

  // The URL is a credential only admins read (and the workers that post to it): the rest see who set it.
  if (current.data?.readable === false)
    return (
      <section className="panel" aria-labelledby={`${id}-heading`} data-testid="webhook-admins-only">
        <h2 id={`${id}-heading`}>Alert webhook</h2>
        <p className="subtle">
          {current.data.set === true
            ? `Blocked transactions are posted to the team's webhook, set by ${current.data.setBy ?? 'an admin'} on ${formatTimeZoned(current.data.setAt)}.`
            : 'No team webhook is set: blocked transactions are not posted anywhere.'}{' '}
          Its address is a credential: an admin of the team sets it and sees it.
        </p>
      </section>
    )

  function submit(event: FormEvent) {
    event.preventDefault()
    const parsed = WebhookChange.safeParse({ url: value.trim() === '' ? null : value.trim() })
    if (!parsed.success) {
      setError(parsed.error.issues[0]?.message)
      return
    }
    setError(undefined)
    save.mutate(parsed.data)
  }

  return (
    <section className="panel" aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`}>Alert webhook</h2>
      <form className="field" onSubmit={submit} noValidate data-testid="webhook-form">
        <label htmlFor={`${id}-url`}>
          Slack-compatible webhook URL for blocked transactions (empty: none)
        </label>
        <div className="form-actions">
          <input
            id={`${id}-url`}
            className="webhook-url"
            value={value}
            placeholder="https://hooks.slack.com/services/…"
            onChange={(e) => setDraft(e.target.value)}
            aria-invalid={error ? true : undefined}
            spellCheck={false}
          />
          <button type="submit" className="button" disabled={save.isPending}>
            Save webhook
          </button>
          <span className="subtle" role="status">
            {save.isSuccess ? 'Saved for this team profile.' : ''}
          </span>
        </div>
        {error && <p className="field-error">{error}</p>}
      </form>
    </section>
  )
}
