import { useQueryClient } from '@tanstack/react-query'
import { useEffect } from 'react'
import type { LiveAlert } from '../../../../shared/triage-contract'
import { client, orpc } from '../../api/client'
import { formatMoney } from '../transactions/format'
import { publishLiveEvent, setLiveConnected, throttle } from './liveEvents'
import { openCase } from './selection'

const RECONNECT_MILLIS = 3000

/** A desktop notification for a block-level alert; clicking it opens the case. */
function notifyBlock(alert: LiveAlert) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return
  const why = alert.reasons.map((reason) => reason.text).join('; ')
  const notification = new Notification(`Blocked ${formatMoney(alert.amount)} from ${alert.userId}`, {
    body: `Score ${alert.score}${why ? ` · ${why}` : ''}`,
    tag: `aether-alert-${alert.id}`,
  })
  notification.onclick = () => {
    window.focus()
    if (alert.caseId !== null) openCase(alert.caseId)
    notification.close()
  }
}

/**
 * Follows the workstation's live feed for as long as the window is open: pages hear each event, the
 * queue and grids refetch, and block-level alerts raise a desktop notification. Renders nothing.
 */
export function AlertNotifier() {
  const queryClient = useQueryClient()

  useEffect(() => {
    if ('Notification' in window && Notification.permission === 'default')
      void Notification.requestPermission()
  }, [])

  useEffect(() => {
    const abort = new AbortController()
    const refetchCases = throttle(
      () => void queryClient.invalidateQueries({ queryKey: orpc.triage.cases.queue.key() }),
      1000,
    )
    let retry: ReturnType<typeof setTimeout> | undefined
    async function follow() {
      let wait = 0
      try {
        const events = await client.triage.live(undefined, { signal: abort.signal })
        for await (const event of events) {
          if (event.kind === 'listening') setLiveConnected(true)
          if (event.kind === 'alert' && event.decision === 'block') notifyBlock(event)
          if (event.kind !== 'listening') refetchCases()
          publishLiveEvent(event)
        }
      } catch {
        // The stream broke (host restart, store error): follow again shortly.
        wait = RECONNECT_MILLIS
      }
      // A stream that ended cleanly belonged to a store the workstation left: follow the new one now.
      setLiveConnected(false)
      if (!abort.signal.aborted) retry = setTimeout(() => void follow(), wait)
    }
    void follow()
    return () => {
      abort.abort()
      clearTimeout(retry)
    }
  }, [queryClient])

  return null
}
