import type { QueryKey, UseQueryOptions } from '@tanstack/react-query'

/**
 * A query the workstation keeps current over a stream (app.watchStatus, pipeline.watchPipeline,
 * triage.live): the one way the renderer follows live data. Each value the stream yields becomes the
 * query's data, so every useQuery reader of `queryKey` shares it and no component runs its own loop.
 */
export interface LiveQuery<T> {
  queryKey: QueryKey
  /** Opens the stream: the value now, then each change. */
  stream: (signal: AbortSignal) => Promise<AsyncIterable<T>>
  /** Read once while the stream is down, so readers still see the latest value, or the error that stops it. */
  read?: (signal: AbortSignal) => Promise<T>
  /** Each value as it arrives, also those a render would skip: for events, where every one counts. */
  onValue?: (value: T) => void
  /** The stream has closed or broken. */
  onClose?: () => void
  /** How soon to follow again once the stream is down. */
  reconnectMs: number
}

export function liveQueryOptions<T>({
  queryKey,
  stream,
  read,
  onValue,
  onClose,
  reconnectMs,
}: LiveQuery<T>): UseQueryOptions<T, Error, T, QueryKey> {
  return {
    queryKey,
    queryFn: async ({ signal, client }) => {
      let last: { value: T } | undefined
      for (;;) {
        let received = false
        try {
          for await (const value of await stream(signal)) {
            received = true
            last = { value }
            onValue?.(value)
            client.setQueryData(queryKey, value)
          }
        } catch (error) {
          if (signal.aborted || read === undefined) throw error
          break
        } finally {
          onClose?.()
        }
        // A stream the workstation ended belonged to a store it left: follow the new one now. One that
        // ended before its first value would only spin, so it waits for the reconnect like a broken one.
        if (!received) break
      }
      if (read !== undefined) return read(signal)
      if (last === undefined) throw new Error('The live stream ended before it sent anything.')
      return last.value
    },
    // The stream keeps the data fresh; a refetch while it runs joins it, so this interval only reconnects.
    staleTime: Infinity,
    refetchInterval: reconnectMs,
    refetchIntervalInBackground: true,
  }
}
