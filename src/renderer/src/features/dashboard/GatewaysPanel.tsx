import { useQuery } from '@tanstack/react-query'
import type { GatewayReport } from '../../../../shared/gateway-contract'
import { client, orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { liveQueryOptions } from '../../api/live'
import { formatAge, formatCount, formatTimeZoned, timeTitle } from '../../ui/format'
import './gateways.css'

const RECONNECT_MS = 3000

const figure = (value: number | null, unit: string) => (value === null ? '–' : `${formatCount(value)}${unit}`)

function GatewayRow({ gateway }: { gateway: GatewayReport }) {
  const errors = gateway.errorsByKey.reduce((sum, each) => sum + each.errors, 0)
  return (
    <tr data-testid="gateway-row" data-alive={String(gateway.alive)}>
      <td>
        <span className="gateway-state" data-alive={String(gateway.alive)}>
          {gateway.alive ? 'alive' : 'silent'}
        </span>
        {!gateway.alive && (
          <span className="subtle" title={timeTitle(gateway.seenAt)}>
            {' '}
            last seen {formatAge(gateway.seenAt)}
          </span>
        )}
      </td>
      <td>
        <span className="mono">{gateway.url || gateway.id}</span>
        <div className="subtle" title={timeTitle(gateway.startedAt)}>
          {gateway.id} · since {formatTimeZoned(gateway.startedAt)}
        </div>
      </td>
      <td className="num">{formatCount(gateway.requestsPerSecond)}</td>
      <td className="num">{figure(gateway.p99Ms, ' ms')}</td>
      <td className="num">{figure(gateway.finalPct, ' %')}</td>
      <td className={errors > 0 ? 'bad' : 'subtle'}>
        {errors === 0
          ? 'none'
          : gateway.errorsByKey.map((each, index) => (
              <span key={each.key}>
                {index > 0 && ' · '}
                {each.key} <strong className="num">{formatCount(each.errors)}</strong>
              </span>
            ))}
      </td>
    </tr>
  )
}

/**
 * The team's Decision API gateways, as each reports itself through the team Redis about once a second:
 * alive, requests per second, p99 and the share of final decisions over its last 10 s, and the
 * refused requests by API key. Only in Team mode: Local mode has no gateways.
 */
export function GatewaysPanel() {
  const view = useQuery(
    liveQueryOptions({
      queryKey: orpc.gateways.list.queryKey(),
      stream: (signal) => client.gateways.watch(undefined, { signal }),
      read: (signal) => client.gateways.list(undefined, { signal }),
      reconnectMs: RECONNECT_MS,
    }),
  )
  if (view.isPending) return null
  if (view.isError)
    return (
      <p className="inline-error" data-testid="gateways-panel">
        The gateways cannot be shown: {describeError(view.error)}
      </p>
    )
  const { mode, gateways, message } = view.data
  if (mode === 'local') return null
  const alive = gateways.filter((gateway) => gateway.alive).length
  return (
    <section className="health gateways" aria-labelledby="gateways-heading" data-testid="gateways-panel">
      <h2 id="gateways-heading">Decision API gateways</h2>
      {gateways.length > 0 && (
        <span>
          <strong className="num">{formatCount(alive)}</strong> of {formatCount(gateways.length)} alive
        </span>
      )}
      {message && (
        <p className="inline-error gateways-wide" role="status">
          {message}
        </p>
      )}
      {gateways.length === 0 ? (
        !message && (
          <p className="subtle gateways-wide" data-testid="gateways-empty">
            No gateway has reported in the last minute.
          </p>
        )
      ) : (
        <table className="gateways-table gateways-wide">
          <thead>
            <tr>
              <th scope="col">State</th>
              <th scope="col">Gateway</th>
              <th scope="col" className="num" title="Requests per second over the last 10 s">
                req/s
              </th>
              <th scope="col" className="num" title="99th percentile of the time to a decision, last 10 s">
                p99
              </th>
              <th scope="col" className="num" title="Decisions answered final within the budget, last 10 s">
                final
              </th>
              <th scope="col" title="Refused or failed requests over the last 10 s, by API key">
                errors by key
              </th>
            </tr>
          </thead>
          <tbody>
            {gateways.map((gateway) => (
              <GatewayRow key={gateway.id} gateway={gateway} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}
