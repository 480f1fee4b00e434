import { SCORING_CHANNEL } from '../store/migrations/0006_scoring_notify'
import type { Store } from '../store/store'

/** How long a worker waits before it tries to listen again when the store did not answer. */
const RETRY_MS = 5000

/**
 * Calls `onChange` whenever the store announces that lists or rules changed, and once more each time
 * listening (re)starts, as announcements made while nobody listened are lost. A store that cannot be
 * reached is tried again every few seconds until `stop()`; meanwhile the worker's poll sees changes.
 */
export function watchScoringChanges(
  listen: Store['listen'],
  onChange: () => void,
  log?: (line: string) => void,
  retryMs = RETRY_MS,
): { stop(): Promise<void> } {
  let stopped = false
  let logged = false
  let retry: NodeJS.Timeout | undefined
  let stopListening: (() => Promise<void>) | undefined
  let attempt: Promise<void> | undefined
  const start = async () => {
    try {
      const stop = await listen([SCORING_CHANNEL], onChange, onChange)
      if (stopped) await stop()
      else {
        stopListening = stop
        onChange()
      }
    } catch (error) {
      if (stopped) return
      if (!logged)
        log?.(
          `Not listening for list and rule changes yet (${error instanceof Error ? error.message : String(error)}); they are seen at the next poll meanwhile.`,
        )
      logged = true
      retry = setTimeout(() => (attempt = start()), retryMs)
    }
  }
  attempt = start()
  return {
    stop: async () => {
      stopped = true
      clearTimeout(retry)
      await attempt
      await stopListening?.().catch(() => {})
    },
  }
}
