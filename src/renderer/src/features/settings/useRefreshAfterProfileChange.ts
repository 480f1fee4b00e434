import { useQueryClient } from '@tanstack/react-query'
import { useCallback } from 'react'
import { orpc } from '../../api/client'

/** A profile change can change the active store, so both the list and the app status are refetched. */
export function useRefreshAfterProfileChange(): () => Promise<unknown> {
  const queryClient = useQueryClient()
  return useCallback(
    () =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: orpc.profiles.list.key() }),
        queryClient.invalidateQueries({ queryKey: orpc.app.status.key() }),
      ]),
    [queryClient],
  )
}
