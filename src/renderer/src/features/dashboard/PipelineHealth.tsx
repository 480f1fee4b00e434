import { useQuery } from '@tanstack/react-query'
import { useState } from 'react'
import { client, orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { liveQueryOptions } from '../../api/live'
import type { PipelineStatus } from '../../../../shared/pipeline-contract'
import { formatCount } from '../../ui/format'

const REFRESH_MS = 2000

/**
 * Is the pipeline keeping up? Rate, lag, pending and dead letters, from the pipeline's own status as
 * pipeline.watchPipeline pushes it (about once a second while it changes).
 */
export function PipelineHealth() {
  const status = useQuery(
    liveQueryOptions({
      queryKey: orpc.pipeline.status.queryKey(),
      stream: (signal) => client.pipeline.watchPipeline(undefined, { signal }),
      read: (signal) => client.pipeline.status(undefined, { signal }),
      reconnectMs: REFRESH_MS,
    }),
  )
  const [showLetters, setShowLetters] = useState(false)
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
  const reasons = Object.entries(s.deadLettersByReason ?? {}).filter(([, count]) => count > 0)
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
        {deadLetters > 0 && (
          <button
            type="button"
            className="link-button"
            aria-expanded={showLetters}
            onClick={() => setShowLetters((shown) => !shown)}
          >
            {showLetters ? 'hide' : 'show'}
          </button>
        )}
      </span>
      {reasons.length > 0 && (
        <span className="subtle" data-testid="dead-letter-reasons">
          this worker’s dead letters:{' '}
          {reasons.map(([reason, count], index) => (
            <span key={reason}>
              {index > 0 && ' · '}
              {reason.replaceAll('_', ' ')} <strong className="num">{formatCount(count)}</strong>
            </span>
          ))}
        </span>
      )}
      <span>
        stored <strong className="num">{formatCount(s.counts.stored)}</strong>
      </span>
      <span className="subtle">{s.source}</span>
      {s.message && <span className="subtle">{s.message}</span>}
      {s.strayStreams !== undefined && s.strayStreams.length > 0 && <StrayStreams strays={s.strayStreams} />}
      {showLetters && <DeadLetters />}
    </section>
  )
}

/** Stream keys under the team's prefix that no worker reads: what a producer sends there is lost. */
function StrayStreams({ strays }: { strays: NonNullable<PipelineStatus['strayStreams']> }) {
  return (
    <div className="stray-streams" data-testid="stray-streams">
      <p>
        <strong>
          {strays.length === 1 ? 'A stream key' : `${formatCount(strays.length)} stream keys`} no worker
          reads.
        </strong>{' '}
        Entries on these keys are never read — a producer uses the wrong key. Nothing written there is scored
        or stored: the producer must write each transaction to its user’s partition stream, and send what it
        wrote here again.
      </p>
      <ul>
        {strays.map((stray) => (
          <li key={stray.key}>
            <code>{stray.key}</code>{' '}
            <span className="num">
              {formatCount(stray.length)} {stray.length === 1 ? 'entry' : 'entries'}
            </span>
          </li>
        ))}
      </ul>
    </div>
  )
}

/** The newest dead letters: when, why, and the message as the producer sent it. */
function DeadLetters() {
  const letters = useQuery({
    ...orpc.pipeline.deadLetters.queryOptions({ input: { limit: 50 } }),
    refetchInterval: REFRESH_MS * 5,
  })
  if (letters.isPending) return <p className="subtle dead-letters">Reading the dead letters…</p>
  if (letters.isError)
    return (
      <p className="inline-error dead-letters">Dead letters unavailable: {describeError(letters.error)}</p>
    )
  const { entries, total, message } = letters.data
  return (
    <div className="dead-letters" data-testid="dead-letters">
      <p className="subtle">
        {message ??
          `The newest ${formatCount(entries.length)} of ${formatCount(total)}. Each keeps the message as it arrived; fix the producer and send it again.`}
      </p>
      <table className="mini-table">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Partition · entry</th>
            <th scope="col">Why it was refused</th>
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((letter) => (
            <tr key={letter.id}>
              <td className="num">{new Date(letter.at).toLocaleString()}</td>
              <td className="num">
                {letter.partition ?? '–'} · {letter.originalId ?? '–'}
              </td>
              <td>{letter.reason}</td>
              <td>
                <code>
                  {letter.fields.length === 0
                    ? '(no fields)'
                    : letter.fields.map((field) => `${field.name}=${field.value}`).join('  ')}
                </code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
