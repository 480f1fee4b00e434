import { useQuery } from '@tanstack/react-query'
import { orpc } from '../api/client'
import { useSession } from '../features/settings/useSession'

/**
 * Whether this desk may change the team's rules and lists. Local mode: always. Team mode: an admin, or a
 * login that is not a registered analyst (the schema's owner, say: the database decides); analysts and
 * supervisors read them, and the store refuses their writes (README "Security model"), so the pages do
 * not offer them.
 */
export function useMayAdminister(): boolean {
  const status = useQuery(orpc.app.status.queryOptions()).data
  const session = useSession(status).data
  if (status?.mode !== 'team') return true
  const role = session?.role
  return role !== 'analyst' && role !== 'supervisor'
}
