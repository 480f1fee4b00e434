import { useQuery } from '@tanstack/react-query'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { formatCount } from '../transactions/format'

const REFRESH_MS = 2000

/** Is the pipeline keeping up? Rate, lag, pending and dead letters, from the pipeline's own status. */
export function PipelineHealth() {
  const status = useQuery({ ...orpc.pipeline.status.queryOptions(), refetchInterval: REFRESH_MS })
  if (status.isPending) return null
  if (status.isError)
    return (
      <p className="inline-error" data-testid="pipeline-health">
        Pipeline status unavailable: {describeError(status.error)}
      </p>
    )
  const s = status.data
  const lags = s.partitions.map((p) => p.lag).filter((lag): lag is number => lag !== null)
  const lag = lags.length === 0 ? null : lags.reduce((sum, value) => sum + value, 0)
  const pending = s.partitions.reduce((sum, p) => sum + p.pending, 0)
  const deadLetters = s.deadLetterTotal ?? s.counts.deadLetters
  return (
    <section
      className="health"
      aria-label="Is the pipeline keeping up?"
      data-testid="pipeline-health"
      data-state={s.state}
    >
      <h2>Is the pipeline keeping up?</h2>
      <span className="health-state" data-state={s.state}>
        {s.state}
      </span>
      <span>
        <strong className="num">{formatCount(Math.round(s.ratePerSecond))}</strong> tx/s
      </span>
      <span>
        lag <strong className="num">{lag === null ? '–' : formatCount(lag)}</strong>
      </span>
      <span>
        pending <strong className="num">{formatCount(pending)}</strong>
      </span>
      <span className={deadLetters > 0 ? 'bad' : undefined}>
        dead letters <strong className="num">{formatCount(deadLetters)}</strong>
      </span>
      <span>
        stored <strong className="num">{formatCount(s.counts.stored)}</strong>
      </span>
      <span className="subtle">{s.source}</span>
      {s.message && <span className="subtle">{s.message}</span>}
    </section>
  )
}
