import { useQuery } from '@tanstack/react-query'
import type { Session } from '../../../shared/session-contract'
import { orpc } from '../api/client'
import { useSession } from '../features/settings/useSession'

/** Local mode: always; Team mode: what the database answered for this session (whoami). */
function useSessionMay(right: 'canAdminister' | 'canAssignOthers'): boolean {
  const status = useQuery(orpc.app.status.queryOptions()).data
  const session: Session | undefined = useSession(status).data
  return status?.mode !== 'team' || session?.[right] === true
}

/**
 * Whether this desk may change the team's rules and lists (`canAdminister`: admins and the schema's
 * owner, the same logins the store lets write rules and lists); analysts and supervisors read them, so
 * the pages do not offer what the store would refuse.
 */
export function useMayAdminister(): boolean {
  return useSessionMay('canAdminister')
}

/**
 * Whether this desk may assign cases to colleagues (`canAssignOthers`: the database's row security lets
 * an analyst assign a case only to themselves or back to the queue).
 */
export function useMayAssignOthers(): boolean {
  return useSessionMay('canAssignOthers')
}
