import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect, useMemo } from 'react'
import type { LiveAlert, LiveEvent } from '../../../../shared/triage-contract'
import { client, orpc } from '../../api/client'
import { liveQueryOptions } from '../../api/live'
import { formatMoney } from '../../ui/format'
import { publishLiveEvent, setLiveConnected, throttle } from '../../app/liveEvents'
import { openCase } from '../../app/selection'

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
  const refetchCases = useMemo(
    () =>
      throttle(() => void queryClient.invalidateQueries({ queryKey: orpc.triage.cases.queue.key() }), 1000),
    [queryClient],
  )

  useEffect(() => {
    if ('Notification' in window && Notification.permission === 'default')
      void Notification.requestPermission()
  }, [])

  useQuery(
    liveQueryOptions({
      queryKey: orpc.triage.live.experimental_liveKey(),
      stream: (signal) => client.triage.live(undefined, { signal }),
      onValue: (event: LiveEvent) => {
        if (event.kind === 'listening') setLiveConnected(true)
        if (event.kind === 'alert' && event.decision === 'block') notifyBlock(event)
        if (event.kind !== 'listening') refetchCases()
        publishLiveEvent(event)
      },
      onClose: () => setLiveConnected(false),
      // A broken stream (host restart, store error) is followed again shortly.
      reconnectMs: RECONNECT_MILLIS,
    }),
  )

  return null
}
