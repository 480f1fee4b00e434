import type { Profile } from '../../../../shared/profile'

interface DeleteConfirmProps {
  profile: Profile
  active: boolean
  pending: boolean
  onConfirm: () => void
  onCancel: () => void
}

export function DeleteConfirm({ profile, active, pending, onConfirm, onCancel }: DeleteConfirmProps) {
  return (
    <div
      className="confirm"
      role="group"
      aria-label={`Confirm deleting ${profile.name}`}
      data-testid="delete-confirm"
      onKeyDown={(event) => {
        if (event.key === 'Escape') onCancel()
      }}
    >
      <span>
        Delete “{profile.name}”?
        {profile.kind === 'team' && (profile.hasPostgresPassword || profile.hasRedisPassword)
          ? ' Its saved passwords leave the OS keychain too.'
          : ' It has no saved password, so the OS keychain is not needed.'}
        {active && ' It is the active profile, so the workstation switches to Local.'}
      </span>
      <button type="button" className="button danger" onClick={onConfirm} disabled={pending}>
        Delete profile
      </button>
      <button type="button" className="button" onClick={onCancel} disabled={pending}>
        Keep it
      </button>
    </div>
  )
}
