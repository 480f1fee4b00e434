import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useId, useState, type FormEvent } from 'react'
import type { AppStatus } from '../../../../shared/contract'
import {
  AnalystLogin,
  AnalystPassword,
  AnalystRole,
  type Analyst,
  type Session,
} from '../../../../shared/session-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { ErrorState } from '../../app/ErrorState'
import { LoadingSkeleton } from '../../app/LoadingSkeleton'
import { useRefreshAfterProfileChange } from './useRefreshAfterProfileChange'
import { useSession } from './useSession'

const ROLE_LABELS: Record<AnalystRole, string> = {
  analyst: 'Analyst',
  supervisor: 'Supervisor',
  admin: 'Admin',
}

/** Sign in to a team profile with its analyst's password (kept in the OS keychain), or sign out. */
function SessionSection({ status, session }: { status: AppStatus; session: Session | undefined }) {
  const formId = useId()
  const refresh = useRefreshAfterProfileChange()
  const profiles = useQuery(orpc.profiles.list.queryOptions())
  const teamProfiles = (profiles.data?.profiles ?? []).filter((profile) => profile.kind === 'team')
  const [chosen, setChosen] = useState<string>()
  const [password, setPassword] = useState('')
  const signIn = useMutation(
    orpc.session.signIn.mutationOptions({
      onSuccess: async () => {
        setPassword('')
        await refresh()
      },
    }),
  )
  const signOut = useMutation(orpc.session.signOut.mutationOptions({ onSuccess: refresh }))
  const busy = signIn.isPending || signOut.isPending
  const failure = signIn.error ?? signOut.error
  // After a failure of the team session (say the account was disabled) the same profile is offered again.
  const profileId = chosen ?? (status.mode === 'team' ? status.profileId : teamProfiles[0]?.id) ?? ''
  const signedIn =
    status.mode === 'team' && status.state === 'ready' && session !== undefined && session.login !== null

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    signOut.reset()
    signIn.mutate({ profileId, password })
  }

  return (
    <section className="panel" aria-labelledby={`${formId}-heading`} data-testid="session-panel">
      <h2 id={`${formId}-heading`}>Your session</h2>
      {signedIn ? (
        <p data-testid="session-summary">
          Signed in to “{session.profileName}” as <strong>{session.displayName ?? session.login}</strong>{' '}
          <span className="mono">({session.login})</span>,{' '}
          {session.role ? ROLE_LABELS[session.role] : 'not a registered analyst'}. The rights come from the
          team database itself.
        </p>
      ) : (
        <p className="subtle" data-testid="session-summary">
          {status.mode === 'local'
            ? 'Local mode: the embedded store on this machine, no sign-in.'
            : `Not signed in to “${status.profileName}”${status.message ? `: ${status.message}` : '.'}`}
        </p>
      )}
      {teamProfiles.length > 0 && (
        <form className="field-pair" onSubmit={submit} noValidate aria-busy={busy}>
          <div className="field">
            <label htmlFor={`${formId}-profile`}>Team profile</label>
            <select
              id={`${formId}-profile`}
              value={profileId}
              onChange={(event) => setChosen(event.target.value)}
            >
              {teamProfiles.map((profile) => (
                <option key={profile.id} value={profile.id}>
                  {profile.name}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={`${formId}-password`}>Your database password</label>
            <input
              id={`${formId}-password`}
              type="password"
              autoComplete="current-password"
              value={password}
              maxLength={1024}
              onChange={(event) => setPassword(event.target.value)}
            />
            <p className="field-hint">Checked by the database, then kept in the OS keychain.</p>
          </div>
          <div className="form-actions">
            <button
              type="submit"
              className="button primary"
              disabled={busy || password === '' || profileId === ''}
            >
              Sign in
            </button>
            {status.mode === 'team' && (
              <button
                type="button"
                className="button"
                disabled={busy}
                onClick={() => {
                  signIn.reset()
                  signOut.mutate({})
                }}
              >
                Sign out
              </button>
            )}
            <span className="subtle" role="status">
              {signIn.isPending ? 'Signing in…' : signOut.isPending ? 'Signing out…' : ''}
            </span>
          </div>
        </form>
      )}
      {failure && (
        <p className="inline-error" role="alert" data-testid="session-error">
          {describeError(failure)}
        </p>
      )}
    </section>
  )
}

function AnalystRow({ analyst, self }: { analyst: Analyst; self: boolean }) {
  const queryClient = useQueryClient()
  const [confirming, setConfirming] = useState(false)
  const refreshList = () => queryClient.invalidateQueries({ queryKey: orpc.session.analysts.key() })
  const disable = useMutation(orpc.session.analysts.disable.mutationOptions({ onSuccess: refreshList }))
  const enable = useMutation(orpc.session.analysts.enable.mutationOptions({ onSuccess: refreshList }))
  const setRole = useMutation(orpc.session.analysts.setRole.mutationOptions({ onSuccess: refreshList }))
  const setIngest = useMutation(orpc.session.analysts.setIngest.mutationOptions({ onSuccess: refreshList }))
  const busy = disable.isPending || enable.isPending || setRole.isPending || setIngest.isPending
  const failure = disable.error ?? enable.error ?? setRole.error ?? setIngest.error
  const disabled = analyst.disabledAt !== null

  return (
    <li className="profile-row" data-testid={`analyst-row-${analyst.login}`} data-disabled={String(disabled)}>
      <div className="profile-summary">
        <span className="profile-name">{analyst.displayName}</span>
        <span className="profile-target mono">{analyst.login}</span>
        {disabled && <span className="badge">Disabled</span>}
        <span className="row-actions">
          <label title="Their workstation runs a pipeline worker with their login (writes transactions)">
            <input
              type="checkbox"
              checked={analyst.ingests}
              disabled={busy}
              onChange={(event) => setIngest.mutate({ login: analyst.login, ingests: event.target.checked })}
            />{' '}
            Ingests
          </label>
          <select
            aria-label={`Role of ${analyst.login}`}
            value={analyst.role}
            disabled={busy || self}
            onChange={(event) =>
              setRole.mutate({ login: analyst.login, role: AnalystRole.parse(event.target.value) })
            }
          >
            {AnalystRole.options.map((role) => (
              <option key={role} value={role}>
                {ROLE_LABELS[role]}
              </option>
            ))}
          </select>
          {disabled ? (
            <button
              type="button"
              className="button"
              disabled={busy}
              onClick={() => enable.mutate({ login: analyst.login })}
            >
              Enable
            </button>
          ) : (
            <button
              type="button"
              className="button"
              disabled={busy || self}
              title={self ? 'You cannot disable your own account' : undefined}
              aria-expanded={confirming}
              onClick={() => setConfirming(true)}
            >
              Disable
            </button>
          )}
        </span>
      </div>
      {confirming && (
        <div
          className="confirm"
          role="group"
          aria-label={`Confirm disabling ${analyst.login}`}
          onKeyDown={(event) => {
            if (event.key === 'Escape') setConfirming(false)
          }}
        >
          <span>
            Disable {analyst.displayName}? Their open sessions end at once and they cannot sign in until
            enabled again.
          </span>
          <button
            type="button"
            className="button danger"
            disabled={busy}
            onClick={() =>
              disable.mutate({ login: analyst.login }, { onSettled: () => setConfirming(false) })
            }
          >
            Disable analyst
          </button>
          <button type="button" className="button" onClick={() => setConfirming(false)}>
            Keep enabled
          </button>
        </div>
      )}
      {failure && (
        <p className="inline-error" role="alert">
          {describeError(failure)}
        </p>
      )}
    </li>
  )
}

const emptyDraft = { login: '', displayName: '', role: 'analyst' as AnalystRole, password: '' }

function AddAnalystForm() {
  const formId = useId()
  const queryClient = useQueryClient()
  const [draft, setDraft] = useState(emptyDraft)
  const [problem, setProblem] = useState<string>()
  const add = useMutation(
    orpc.session.analysts.add.mutationOptions({
      onSuccess: async () => {
        setDraft(emptyDraft)
        await queryClient.invalidateQueries({ queryKey: orpc.session.analysts.key() })
      },
    }),
  )

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const login = AnalystLogin.safeParse(draft.login)
    // No password adds a login the server already has (an analyst of another team database).
    const password = AnalystPassword.optional().safeParse(draft.password || undefined)
    const firstIssue = [login, password].find((parsed) => !parsed.success)?.error?.issues[0]?.message
    setProblem(firstIssue ?? (draft.displayName.trim() === '' ? 'Give the analyst a name' : undefined))
    if (firstIssue === undefined && draft.displayName.trim() !== '')
      add.mutate({ ...draft, password: draft.password || undefined })
  }

  const field = (name: 'login' | 'displayName' | 'password', label: string, type = 'text') => (
    <div className="field">
      <label htmlFor={`${formId}-${name}`}>{label}</label>
      <input
        id={`${formId}-${name}`}
        type={type}
        value={draft[name]}
        autoComplete={type === 'password' ? 'new-password' : 'off'}
        spellCheck={false}
        onChange={(event) => setDraft((current) => ({ ...current, [name]: event.target.value }))}
      />
    </div>
  )

  return (
    <form
      className="profile-form"
      data-testid="add-analyst-form"
      onSubmit={submit}
      noValidate
      aria-busy={add.isPending}
    >
      <div className="field-pair">
        {field('login', 'Login (their PostgreSQL user)')}
        {field('displayName', 'Display name')}
      </div>
      <div className="field-pair">
        <div className="field">
          <label htmlFor={`${formId}-role`}>Role</label>
          <select
            id={`${formId}-role`}
            value={draft.role}
            onChange={(event) =>
              setDraft((current) => ({ ...current, role: AnalystRole.parse(event.target.value) }))
            }
          >
            {AnalystRole.options.map((role) => (
              <option key={role} value={role}>
                {ROLE_LABELS[role]}
              </option>
            ))}
          </select>
        </div>
        {field('password', 'First password (12 or more characters; none for an existing login)', 'password')}
      </div>
      {(problem ?? add.error) && (
        <p className="inline-error" role="alert">
          {problem ?? describeError(add.error)}
        </p>
      )}
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={add.isPending}>
          Add analyst
        </button>
        <span className="subtle" role="status">
          {add.isPending ? 'Adding…' : add.data ? `Added ${add.data.login}.` : ''}
        </span>
      </div>
    </form>
  )
}

/** Admins manage the team's analysts here; PostgreSQL refuses anyone else, whatever this UI shows. */
function AnalystAdministration({ session }: { session: Session }) {
  const analysts = useQuery(orpc.session.analysts.list.queryOptions())
  return (
    <section className="panel" aria-labelledby="analysts-heading" data-testid="analysts-panel">
      <h2 id="analysts-heading">Analysts</h2>
      {analysts.isPending ? (
        <LoadingSkeleton label="Loading analysts" rows={3} />
      ) : analysts.isError ? (
        <ErrorState
          title="The analysts could not be loaded"
          message={describeError(analysts.error)}
          onRetry={() => void analysts.refetch()}
        />
      ) : analysts.data.length === 0 ? (
        <p className="subtle">No analysts yet: add the first one below.</p>
      ) : (
        <ul className="profile-list" aria-label="Analysts">
          {analysts.data.map((analyst) => (
            <AnalystRow key={analyst.login} analyst={analyst} self={analyst.login === session.login} />
          ))}
        </ul>
      )}
    </section>
  )
}

/** Settings for team identity: the analyst's own session, and analyst administration for admins. */
export function AnalystsPanel() {
  const status = useQuery({ ...orpc.app.status.queryOptions(), staleTime: Infinity }).data
  const session = useSession(status)
  if (status === undefined) return null
  return (
    <>
      <SessionSection status={status} session={session.data} />
      {status.state === 'ready' && session.data?.canAdminister === true && (
        <>
          <AnalystAdministration session={session.data} />
          <section className="panel" aria-labelledby="add-analyst-heading">
            <h2 id="add-analyst-heading">Add an analyst</h2>
            <AddAnalystForm />
          </section>
        </>
      )}
    </>
  )
}
