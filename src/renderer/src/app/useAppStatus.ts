import { useQuery } from '@tanstack/react-query'
import { useCallback, useEffect, useState } from 'react'
import type { AppStatus } from '../../../shared/contract'
import { describeError } from '../api/errors'
import { client, connectionLost, hasHostToken, orpc } from '../api/client'
import { liveQueryOptions } from '../api/live'

export type AppState = 'loading' | 'ready' | 'error'

export interface AppStatusView {
  state: AppState
  /** The latest status the workstation reported, if any arrived. */
  status: AppStatus | undefined
  /** Why the app is in the error state. */
  problem: { title: string; message: string } | undefined
  hostLost: boolean
  retry: () => void
}

const HOST_LOST_MESSAGE = 'The Aether host has stopped. Restart `aether serve` and reload.'
/** A tab without the launch's token: the socket is refused, and a reload would not help. */
const NO_TOKEN_MESSAGE =
  'This tab has no key to the Aether host: open the URL that `aether serve` printed (it holds this launch’s token).'
const RECONNECT_MILLIS = 3000

function useHostLost(): boolean {
  const [lost, setLost] = useState(false)
  useEffect(() => {
    let mounted = true
    void connectionLost.then(() => {
      if (mounted) setLost(true)
    })
    return () => {
      mounted = false
    }
  }, [])
  return lost
}

/**
 * The workstation's status, pushed by app.watchStatus into the app.status query cache so every
 * useQuery(orpc.app.status) reader shares it. While the stream is down, app.status is read instead (a
 * failure there is the app's error), and the stream is followed again every few seconds.
 */
export function useAppStatus(): AppStatusView {
  const hostLost = useHostLost()
  const query = useQuery(
    liveQueryOptions({
      queryKey: orpc.app.status.queryKey(),
      stream: (signal) => client.app.watchStatus(undefined, { signal }),
      read: (signal) => client.app.status(undefined, { signal }),
      reconnectMs: RECONNECT_MILLIS,
    }),
  )

  const { refetch } = query
  const retry = useCallback(() => {
    if (hostLost) {
      window.location.reload()
      return
    }
    void refetch()
  }, [hostLost, refetch])

  const status = query.data
  if (hostLost) {
    return {
      state: 'error',
      status,
      problem: hasHostToken
        ? { title: 'Connection to the workstation lost', message: HOST_LOST_MESSAGE }
        : { title: 'Open the printed URL', message: NO_TOKEN_MESSAGE },
      hostLost,
      retry,
    }
  }
  if (query.isError) {
    const message = describeError(query.error)
    return {
      state: 'error',
      status,
      problem: { title: 'Cannot reach the workstation', message },
      hostLost,
      retry,
    }
  }
  if (status?.state === 'error') {
    const message = status.message ?? 'The workstation reported an error without a reason.'
    return {
      state: 'error',
      status,
      problem: { title: 'The workstation is not ready', message },
      hostLost,
      retry,
    }
  }
  const state = status?.state === 'ready' ? 'ready' : 'loading'
  return { state, status, problem: undefined, hostLost, retry }
}
