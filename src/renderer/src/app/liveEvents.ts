import { useEffect, useRef, useSyncExternalStore } from 'react'
import type { LiveAlert, LiveEvent } from '../../../shared/triage-contract'

/**
 * One live subscription per window (AlertNotifier) fans events out here, so pages react to new alerts
 * without each opening its own stream.
 */
const target = new EventTarget()
let connected = false
const connectionListeners = new Set<() => void>()

export function publishLiveEvent(event: LiveEvent): void {
  target.dispatchEvent(new CustomEvent('live', { detail: event }))
}

export function setLiveConnected(value: boolean): void {
  connected = value
  for (const listener of connectionListeners) listener()
}

export function useLiveConnected(): boolean {
  return useSyncExternalStore(
    (onChange) => {
      connectionListeners.add(onChange)
      return () => connectionListeners.delete(onChange)
    },
    () => connected,
  )
}

/** Calls back on each live event; the latest callback is used without resubscribing. */
export function useLiveEvents(onEvent: (event: LiveEvent) => void): void {
  const latest = useRef(onEvent)
  useEffect(() => {
    latest.current = onEvent
  })
  useEffect(() => {
    const listener = (event: Event) => latest.current((event as CustomEvent<LiveEvent>).detail)
    target.addEventListener('live', listener)
    return () => target.removeEventListener('live', listener)
  }, [])
}

export const isAlert = (event: LiveEvent): event is LiveAlert => event.kind === 'alert'

/**
 * Runs at most once per interval, trailing: a burst of a thousand alerts becomes one refetch now and one
 * at the end, so a busy stream never floods the workstation with reloads.
 */
export function throttle(run: () => void, intervalMs: number): () => void {
  let last = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  return () => {
    const wait = last + intervalMs - Date.now()
    if (wait <= 0) {
      last = Date.now()
      run()
    } else if (timer === undefined) {
      timer = setTimeout(() => {
        timer = undefined
        last = Date.now()
        run()
      }, wait)
    }
  }
}
