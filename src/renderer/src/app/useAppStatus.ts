import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useCallback, useEffect, useState } from 'react'
import type { AppStatus } from '../../../shared/contract'
import { describeError } from '../api/errors'
import { client, connectionLost, orpc } from '../api/client'

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
const POLL_MILLIS = 3000

async function followStatus(signal: AbortSignal, onStatus: (status: AppStatus) => void, onStop: () => void) {
  try {
    const updates = await client.app.watchStatus(undefined, { signal })
    for await (const status of updates) onStatus(status)
  } catch {
    // The stream failing is not fatal: polling app.status takes over and surfaces any real error.
  }
  if (!signal.aborted) onStop()
}

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
 * useQuery(orpc.app.status) reader shares it; polls only while the stream is down.
 */
export function useAppStatus(): AppStatusView {
  const queryClient = useQueryClient()
  const hostLost = useHostLost()
  const [streamDown, setStreamDown] = useState(false)
  const [streamAttempt, setStreamAttempt] = useState(0)
  const query = useQuery({
    ...orpc.app.status.queryOptions(),
    staleTime: streamDown ? 0 : Infinity,
    refetchInterval: streamDown ? POLL_MILLIS : false,
  })

  useEffect(() => {
    const abort = new AbortController()
    void followStatus(
      abort.signal,
      (status) => queryClient.setQueryData(orpc.app.status.queryKey(), status),
      () => setStreamDown(true),
    )
    return () => abort.abort()
  }, [queryClient, streamAttempt])

  const { refetch } = query
  const retry = useCallback(() => {
    if (hostLost) {
      window.location.reload()
      return
    }
    setStreamDown(false)
    setStreamAttempt((attempt) => attempt + 1)
    void refetch()
  }, [hostLost, refetch])

  const status = query.data
  if (hostLost) {
    return {
      state: 'error',
      status,
      problem: { title: 'Connection to the workstation lost', message: HOST_LOST_MESSAGE },
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
