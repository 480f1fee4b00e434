import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect } from 'react'
import type { AppStatus } from '../../../../shared/contract'
import { orpc } from '../../api/client'

/** Who is signed in, as the database session says; asked again whenever the workstation's state changes. */
export function useSession(status: AppStatus | undefined) {
  const queryClient = useQueryClient()
  const profileId = status?.profileId
  const state = status?.state
  useEffect(() => {
    void queryClient.invalidateQueries({ queryKey: orpc.session.key() })
  }, [queryClient, profileId, state])
  return useQuery({ ...orpc.session.whoami.queryOptions(), enabled: status !== undefined })
}
