import { useMutation } from '@tanstack/react-query'
import { useCallback, useEffect, useRef, useState } from 'react'
import {
  ALL_ROWS_READ_PERCENT,
  type BacktestEvent,
  type RunProgress,
  type SqlEvent,
} from '../../../../shared/datasets-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { followRun } from '../../api/run'
import { formatCount, formatSeconds } from './format'

/**
 * A long run (a console statement, a backtest) as the views follow it: its progress while DuckDB works,
 * Cancel, and what came of it. One run at a time per view; leaving the view stops its run.
 */

type RunEvent = SqlEvent | BacktestEvent
type Final<E extends RunEvent> = Exclude<E, { type: 'started' | 'progress' | 'cancelled' }>

export type RunState<E extends RunEvent> =
  | { status: 'idle' }
  | { status: 'running'; runId: string | null; progress: RunProgress | null; cancelling: boolean }
  | { status: 'done'; final: Final<E> }
  | { status: 'cancelled'; seconds: number }
  | { status: 'failed'; message: string }

export interface LongRun<E extends RunEvent> {
  state: RunState<E>
  /** Starts a run; false (and nothing started) while one is running. */
  start(open: (signal: AbortSignal) => Promise<AsyncIterable<E>>): boolean
  cancel(): void
}

export function useLongRun<E extends RunEvent>(): LongRun<E> {
  const [state, setState] = useState<RunState<E>>({ status: 'idle' })
  const current = useRef<{ controller: AbortController; runId: string | null } | null>(null)

  useEffect(() => () => current.current?.controller.abort(), [])

  const start = useCallback((open: (signal: AbortSignal) => Promise<AsyncIterable<E>>) => {
    if (current.current !== null) return false
    const run = { controller: new AbortController(), runId: null as string | null }
    current.current = run
    const started = performance.now()
    setState({ status: 'running', runId: null, progress: null, cancelling: false })
    void followRun(
      () => open(run.controller.signal),
      (received) => {
        const event: RunEvent = received
        if (event.type === 'started') {
          run.runId = event.runId
          setState({ status: 'running', runId: event.runId, progress: null, cancelling: false })
        } else if (event.type === 'progress') {
          setState((previous) => ({
            status: 'running',
            runId: run.runId,
            progress: event,
            cancelling: previous.status === 'running' && previous.cancelling,
          }))
        } else if (event.type === 'cancelled')
          setState({ status: 'cancelled', seconds: (performance.now() - started) / 1000 })
        else setState({ status: 'done', final: received as Final<E> })
      },
      (message) => setState({ status: 'failed', message }),
      run.controller.signal,
    ).finally(() => {
      if (current.current === run) current.current = null
    })
    return true
  }, [])

  const { mutate: cancelRun } = useMutation(
    orpc.datasets.cancelRun.mutationOptions({
      onError: (error) => setState({ status: 'failed', message: describeError(error) }),
    }),
  )
  const cancel = useCallback(() => {
    const runId = current.current?.runId
    if (runId === null || runId === undefined) return
    setState((previous) => (previous.status === 'running' ? { ...previous, cancelling: true } : previous))
    cancelRun({ runId })
  }, [cancelRun])

  return { state, start, cancel }
}

/**
 * The run's progress as the import shows its own (OpenDatasetPanel): percent, rows read and their rate,
 * time left and time so far, and Cancel; then `Cancelled` or what went wrong. Nothing for the first
 * quarter second, so a quick statement does not flash a progress bar.
 */
export function RunStatus<E extends RunEvent>({
  run,
  what,
  testId,
}: {
  run: LongRun<E>
  what: string
  testId: string
}) {
  const { state } = run
  if (state.status === 'cancelled')
    return (
      <p className="subtle" role="status" data-testid={testId} data-state="cancelled">
        Cancelled after {formatSeconds(state.seconds)}; nothing was changed.
      </p>
    )
  if (state.status === 'failed')
    return (
      <p className="inline-error" role="alert" data-testid={testId} data-state="failed">
        {state.message}
      </p>
    )
  if (state.status !== 'running' || state.progress === null) return null
  const { progress, cancelling } = state
  const percent = progress.percent
  // From here on DuckDB's percent no longer moves: the scans are done, the rest of the work is not counted.
  const allRead = percent !== null && percent >= ALL_ROWS_READ_PERCENT
  return (
    <div
      className="ds-import"
      data-testid={testId}
      data-state={cancelling ? 'cancelling' : 'running'}
      role="status"
    >
      <div className="ds-import-title">{cancelling ? `Cancelling ${what}…` : `Running ${what}`}</div>
      {percent === null || allRead ? (
        <progress aria-label={`Running ${what}`} />
      ) : (
        <progress max={100} value={percent} aria-label={`Running ${what}: ${percent.toFixed(0)}%`} />
      )}
      <div className="ds-import-figures subtle">
        <span data-testid={`${testId}-percent`}>
          {percent === null
            ? 'working'
            : allRead
              ? 'every row read, still working'
              : `${percent.toFixed(0)}%`}
        </span>
        <span>{formatCount(progress.rowsRead)} rows read</span>
        <span>{formatCount(Math.round(progress.rowsPerSecond))} rows/s</span>
        {progress.etaSeconds !== null && <span>about {formatSeconds(progress.etaSeconds)} left</span>}
        <span data-testid={`${testId}-elapsed`}>{formatSeconds(progress.elapsedSeconds)} so far</span>
      </div>
      <button
        type="button"
        className="button"
        onClick={run.cancel}
        disabled={cancelling}
        data-testid={`${testId}-cancel`}
      >
        {cancelling ? 'Cancelling…' : 'Cancel'}
      </button>
    </div>
  )
}
