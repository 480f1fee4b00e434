import { useQuery } from '@tanstack/react-query'
import { useMemo, useState } from 'react'
import { client, orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { liveQueryOptions } from '../../api/live'
import type { PipelineStatus } from '../../../../shared/pipeline-contract'
import { EChart, type ChartOption } from '../../ui/EChart'
import { formatClock, formatCount, formatTime, timeTitle, zoneName } from '../../ui/format'

const REFRESH_MS = 2000

/** Seconds of rate history the sparkline shows. */
const HISTORY_SECONDS = 180

/**
 * Is the pipeline keeping up? The whole team's pipeline: every worker of the group (alive, its
 * partitions, its rate), lag and pending per partition from Redis, and the rows stored counted in the
 * store itself — as pipeline.watchPipeline pushes it (about once a second).
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
  const [showDetail, setShowDetail] = useState(true)
  const history = useRateHistory(status.data)
  if (status.isPending) return null
  if (status.isError)
    return (
      <p className="inline-error" data-testid="pipeline-health">
        Pipeline status unavailable: {describeError(status.error)}
      </p>
    )
  const s = status.data
  const team = s.team
  const partitions = team?.partitions.length ? team.partitions : s.partitions
  const lags = partitions.map((p) => p.lag).filter((lag): lag is number => lag !== null)
  const lag = lags.length === 0 ? null : lags.reduce((sum, value) => sum + value, 0)
  const pending = partitions.reduce((sum, p) => sum + p.pending, 0)
  const deadLetters = s.deadLetterTotal ?? s.counts.deadLetters
  const reasons = Object.entries(s.deadLettersByReason ?? {}).filter(([, count]) => count > 0)
  const rate = s.mode === 'team' ? (team?.ratePerSecond ?? null) : s.ratePerSecond
  const stored = team?.stored
  const alive = team?.workers.filter((worker) => worker.alive).length ?? 0
  return (
    <section
      className="health"
      aria-label="Is the pipeline keeping up?"
      data-testid="pipeline-health"
      data-state={s.state}
    >
      <h2>Is the pipeline keeping up?</h2>
      <span className="health-state" data-state={s.state} title="this workstation’s own worker">
        {s.state}
      </span>
      <span
        data-testid="health-rate"
        title={s.mode === 'team' ? 'the whole team, read from Redis' : undefined}
      >
        <strong className="num">{rate === null ? '–' : formatCount(Math.round(rate))}</strong> tx/s
      </span>
      {s.mode === 'team' && team && (
        <span data-testid="health-workers">
          workers <strong className="num">{formatCount(alive)}</strong>
        </span>
      )}
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
      <span data-testid="health-stored" title="transactions in the store, counted there">
        stored{' '}
        <strong className="num">
          {stored
            ? `${stored.approximate ? '≈ ' : ''}${formatCount(stored.count)}`
            : formatCount(s.counts.stored)}
        </strong>
        {stored && s.mode === 'team' && (
          <span className="subtle"> (this workstation: {formatCount(s.counts.stored)})</span>
        )}
      </span>
      <span className="subtle health-source" title={s.source}>
        {s.source}
      </span>
      {s.message && <span className="subtle">{s.message}</span>}
      {s.mode === 'team' && team && (
        <button
          type="button"
          className="link-button"
          aria-expanded={showDetail}
          onClick={() => setShowDetail((shown) => !shown)}
        >
          {showDetail ? 'hide workers and partitions' : 'show workers and partitions'}
        </button>
      )}
      <RateSparkline history={history} />
      {s.mode === 'team' && team && showDetail && <TeamDetail team={team} />}
      {s.strayStreams !== undefined && s.strayStreams.length > 0 && <StrayStreams strays={s.strayStreams} />}
      {(s.alertsWaitingForCase ?? 0) > 0 && <CaseWaits waiting={s.alertsWaitingForCase ?? 0} />}
      {showLetters && <DeadLetters />}
    </section>
  )
}

type RatePoint = [number, number]

/** The rate of each status pushed (about one a second), kept for HISTORY_SECONDS. */
function useRateHistory(status: PipelineStatus | undefined): RatePoint[] {
  const [history, setHistory] = useState<{ at: number | null; points: RatePoint[] }>({
    at: null,
    points: [],
  })
  const rate = status?.mode === 'team' ? status.team?.ratePerSecond : status?.ratePerSecond
  const at = status === undefined ? null : Date.parse(status.team?.at ?? status.updatedAt)
  // A new status adds its point as it renders (React's way of state that follows a prop).
  if (at !== null && at !== history.at && rate !== null && rate !== undefined)
    setHistory({
      at,
      points: [
        ...history.points.filter(([t]) => t > at - HISTORY_SECONDS * 1000 && t < at),
        [at, rate] as RatePoint,
      ].slice(-HISTORY_SECONDS),
    })
  return history.points
}

function RateSparkline({ history }: { history: RatePoint[] }) {
  const option = useMemo<ChartOption>(
    () => ({
      animation: false,
      grid: { left: 2, right: 2, top: 2, bottom: 2 },
      tooltip: {
        trigger: 'axis',
        formatter: (items: { value: RatePoint }[]) => {
          const point = items[0]?.value
          return point
            ? `${formatClock(new Date(point[0]).toISOString())} ${zoneName} · ${point[1].toFixed(1)} tx/s`
            : ''
        },
      },
      xAxis: { type: 'time', show: false },
      yAxis: { type: 'value', show: false, min: 0 },
      series: [
        {
          type: 'line',
          showSymbol: false,
          areaStyle: { opacity: 0.2 },
          color: '#3a86c8',
          data: history,
        },
      ],
    }),
    [history],
  )
  return (
    <span className="health-spark" data-testid="health-sparkline" data-points={history.length}>
      <EChart
        option={option}
        label="Transactions per second over the last three minutes"
        testId="health-rate-chart"
      />
    </span>
  )
}

function TeamDetail({ team }: { team: NonNullable<PipelineStatus['team']> }) {
  const rate = (value: number | null) => (value === null ? '–' : value.toFixed(value < 10 ? 1 : 0))
  return (
    <div className="health-detail">
      <table className="mini-table" data-testid="pipeline-workers">
        <caption>Workers in the group</caption>
        <thead>
          <tr>
            <th scope="col">Worker</th>
            <th scope="col">Alive</th>
            <th scope="col">Partitions</th>
            <th scope="col" className="num">
              tx/s
            </th>
          </tr>
        </thead>
        <tbody>
          {team.workers.length === 0 && (
            <tr>
              <td colSpan={4} className="subtle">
                No worker is in the group.
              </td>
            </tr>
          )}
          {team.workers.map((worker) => (
            <tr key={worker.id} data-alive={worker.alive ? 'true' : 'false'}>
              <td className="ellipsis" title={worker.id}>
                {worker.id}
                {worker.mine && <span className="subtle"> (this workstation)</span>}
              </td>
              <td>{worker.alive ? 'yes' : 'no heartbeat'}</td>
              <td className="num">{worker.partitions.length === 0 ? '–' : worker.partitions.join(', ')}</td>
              <td className="num">{rate(worker.ratePerSecond)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <table className="mini-table" data-testid="pipeline-partitions">
        <caption>Partitions</caption>
        <thead>
          <tr>
            <th scope="col" className="num">
              Partition
            </th>
            <th scope="col">Held by</th>
            <th scope="col" className="num">
              Lag
            </th>
            <th scope="col" className="num">
              Pending
            </th>
            <th scope="col" className="num">
              tx/s
            </th>
          </tr>
        </thead>
        <tbody>
          {team.partitions.map((p) => (
            <tr key={p.partition}>
              <td className="num">{p.partition}</td>
              <td className="ellipsis" title={p.owner ?? 'nobody'}>
                {p.owner ?? 'nobody'}
              </td>
              <td className="num">{p.lag === null ? '–' : formatCount(p.lag)}</td>
              <td className="num">{formatCount(p.pending)}</td>
              <td className="num">{rate(p.ratePerSecond)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
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

/** Alerts stored while another session held their case locked: they join it when the lock goes. */
function CaseWaits({ waiting }: { waiting: number }) {
  return (
    <div className="case-waits" data-testid="case-waits">
      <p>
        <strong>
          {waiting === 1 ? 'An alert waits' : `${formatCount(waiting)} alerts wait`} for{' '}
          {waiting === 1 ? 'its' : 'their'} case.
        </strong>{' '}
        Another session holds the case locked (an open database transaction, not the app). The transactions
        are stored and scored; the alerts join their case as soon as the lock goes. An administrator can end
        that session.
      </p>
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
            <th scope="col">Refused at ({zoneName})</th>
            <th scope="col">Partition · entry</th>
            <th scope="col">Why it was refused</th>
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((letter) => (
            <tr key={letter.id}>
              <td className="num" title={timeTitle(letter.at)}>
                {formatTime(letter.at)}
              </td>
              <td className="num">
                {letter.partition ?? '–'} · {letter.originalId ?? '–'}
              </td>
              <td className="dead-letter-reason">{letter.reason}</td>
              <td className="dead-letter-message" data-testid="dead-letter-message">
                {letter.fields.length === 0 ? (
                  <code>(no fields)</code>
                ) : (
                  // Field after field, wrapped between fields and inside a long value: all of it reads in the panel.
                  letter.fields.map((field, index) => (
                    <code key={index}>
                      {field.name}={field.value}
                    </code>
                  ))
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
