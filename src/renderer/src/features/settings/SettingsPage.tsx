import { useQuery } from '@tanstack/react-query'
import { useState } from 'react'
import type { TeamProfile } from '../../../../shared/profile'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { ErrorState } from '../../app/ErrorState'
import { LoadingSkeleton } from '../../app/LoadingSkeleton'
import { Page } from '../../app/Page'
import { WebhookSettings } from './WebhookSettings'
import { AnalystsPanel } from './AnalystsPanel'
import { ApiKeysPanel } from './ApiKeysPanel'
import { ProfileForm } from './ProfileForm'
import { ProfileRow } from './ProfileRow'

function ConnectionProfiles({ onEdit }: { onEdit: (profile: TeamProfile) => void }) {
  const profiles = useQuery(orpc.profiles.list.queryOptions())
  if (profiles.isPending) return <LoadingSkeleton label="Loading connection profiles" rows={2} />
  if (profiles.isError)
    return (
      <ErrorState
        title="Connection profiles could not be loaded"
        message={describeError(profiles.error)}
        onRetry={() => void profiles.refetch()}
      />
    )
  const { profiles: list, activeId } = profiles.data
  return (
    <ul className="profile-list" aria-label="Connection profiles">
      {list.map((profile) => (
        <ProfileRow key={profile.id} profile={profile} active={profile.id === activeId} onEdit={onEdit} />
      ))}
    </ul>
  )
}

export function SettingsPage() {
  const [editing, setEditing] = useState<TeamProfile>()
  // A fresh key after each save empties the new-profile form.
  const [savedCount, setSavedCount] = useState(0)
  const [notice, setNotice] = useState('')

  return (
    <Page title="Settings">
      <section className="panel" aria-labelledby="connection-profiles-heading">
        <h2 id="connection-profiles-heading">Connection profiles</h2>
        <ConnectionProfiles
          onEdit={(profile) => {
            setNotice('')
            setEditing(profile)
          }}
        />
      </section>
      <section className="panel" aria-labelledby="profile-form-heading">
        <h2 id="profile-form-heading">
          {editing ? `Edit team profile “${editing.name}”` : 'New team profile'}
        </h2>
        <ProfileForm
          key={editing ? `edit-${editing.id}` : `new-${savedCount}`}
          editing={editing}
          onCancel={() => setEditing(undefined)}
          onSaved={(profile) => {
            setNotice(`Saved “${profile.name}”.`)
            setEditing(undefined)
            setSavedCount((count) => count + 1)
          }}
        />
        <p className="notice" role="status" data-testid="settings-notice">
          {notice}
        </p>
      </section>
      <AnalystsPanel />
      <ApiKeysPanel />
      <WebhookSettings />
    </Page>
  )
}
