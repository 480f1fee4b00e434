import { useMutation } from '@tanstack/react-query'
import { useState } from 'react'
import type { Profile, TeamProfile } from '../../../../shared/profile'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { ConnectionReportView } from './ConnectionReportView'
import { DeleteConfirm } from './DeleteConfirm'
import { useRefreshAfterProfileChange } from './useRefreshAfterProfileChange'

interface ProfileRowProps {
  profile: Profile
  active: boolean
  onEdit: (profile: TeamProfile) => void
}

function ProfileTarget({ profile }: { profile: Profile }) {
  if (profile.kind === 'local') return <span className="profile-target">Embedded store on this machine</span>
  return (
    <span className="profile-target mono">
      {profile.postgresUrl} · {profile.redisUrl}
    </span>
  )
}

export function ProfileRow({ profile, active, onEdit }: ProfileRowProps) {
  const refresh = useRefreshAfterProfileChange()
  const [confirmingDelete, setConfirmingDelete] = useState(false)
  const activate = useMutation(orpc.profiles.activate.mutationOptions({ onSuccess: refresh }))
  const test = useMutation(orpc.profiles.test.mutationOptions())
  const remove = useMutation(orpc.profiles.remove.mutationOptions({ onSuccess: refresh }))
  const busy = activate.isPending || test.isPending || remove.isPending
  const failure = activate.error ?? test.error ?? remove.error

  /** One outcome at a time: a new action clears what the previous one left on the row. */
  function startFresh() {
    activate.reset()
    test.reset()
    remove.reset()
  }

  return (
    <li
      className="profile-row"
      data-testid={`profile-row-${profile.name}`}
      data-active={String(active)}
      aria-current={active ? 'true' : undefined}
    >
      <div className="profile-summary">
        <span className="profile-name">{profile.name}</span>
        {active && <span className="badge">Active</span>}
        <ProfileTarget profile={profile} />
        <span className="row-actions">
          {!active && (
            <button
              type="button"
              className="button"
              disabled={busy}
              onClick={() => {
                startFresh()
                activate.mutate({ id: profile.id })
              }}
            >
              Switch to
            </button>
          )}
          <button
            type="button"
            className="button"
            disabled={busy}
            onClick={() => {
              startFresh()
              test.mutate({ id: profile.id })
            }}
          >
            Test
          </button>
          {profile.kind === 'team' && (
            <>
              <button type="button" className="button" disabled={busy} onClick={() => onEdit(profile)}>
                Edit
              </button>
              <button
                type="button"
                className="button"
                disabled={busy}
                aria-expanded={confirmingDelete}
                onClick={() => setConfirmingDelete(true)}
              >
                Delete
              </button>
            </>
          )}
        </span>
      </div>
      {confirmingDelete && (
        <DeleteConfirm
          profile={profile}
          active={active}
          pending={remove.isPending}
          onCancel={() => setConfirmingDelete(false)}
          onConfirm={() => {
            startFresh()
            remove.mutate({ id: profile.id }, { onSettled: () => setConfirmingDelete(false) })
          }}
        />
      )}
      {busy && (
        <p className="subtle" role="status">
          {activate.isPending ? 'Switching…' : test.isPending ? 'Testing…' : 'Deleting…'}
        </p>
      )}
      {failure && (
        <p className="inline-error" role="alert" data-testid="row-error">
          {describeError(failure)}
        </p>
      )}
      {test.data && <ConnectionReportView report={test.data} />}
    </li>
  )
}
