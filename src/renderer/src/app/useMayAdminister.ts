import { useQuery } from '@tanstack/react-query'
import { orpc } from '../api/client'
import { useSession } from '../features/settings/useSession'

/**
 * Whether this desk may change the team's rules and lists. Local mode: always. Team mode: what the
 * session says the database lets it administer (`canAdminister`: admins and the schema's owner, the same
 * logins the store lets write rules and lists); analysts and supervisors read them, so the pages do not
 * offer what the store would refuse.
 */
export function useMayAdminister(): boolean {
  const status = useQuery(orpc.app.status.queryOptions()).data
  const session = useSession(status).data
  return status?.mode !== 'team' || session?.canAdminister === true
}
