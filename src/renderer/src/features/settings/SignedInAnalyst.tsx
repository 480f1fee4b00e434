import type { AppStatus } from '../../../../shared/contract'
import { useSession } from './useSession'

/** The top bar's "who am I": the analyst of the team session, as the database knows them. */
export function SignedInAnalyst({ status }: { status: AppStatus }) {
  const session = useSession(status).data
  if (status.mode !== 'team' || session === undefined || session.login === null) return null
  return (
    <span
      className="subtle"
      data-testid="signed-in-analyst"
      title={`Signed in to ${session.profileName} as the PostgreSQL user ${session.login}`}
    >
      {session.displayName ?? session.login} · {session.role ?? 'not an analyst'}
    </span>
  )
}
