import type { Reason } from '../../../shared/transaction'

/** The names of the values a rule reports, as an analyst reads them (the scorer keys them in snake_case). */
const VALUE_LABELS: Record<string, string> = {
  amount: 'amount',
  limit: 'limit',
  count: 'count',
  sum: 'sum',
  sum_limit: 'sum limit',
  balance_before: 'balance before',
  balance_after: 'balance after',
  cp_balance_before: 'recipient’s balance before',
  cp_balance_after: 'recipient’s balance after',
  counterparty: 'counterparty',
  min_amount: 'from amount',
  z: 'standard deviations',
  mean: 'usual amount',
  stddev: 'spread',
  history: 'earlier transactions',
  ip: 'IP',
  device: 'device',
  user: 'user',
}

const valueLabel = (key: string) => VALUE_LABELS[key] ?? key.replaceAll('_', ' ')

/** Each rule that fired, in plain words, with the values that made it fire. */
export function ReasonList({ reasons }: { reasons: Reason[] }) {
  if (reasons.length === 0) return <p className="subtle">No rule fired.</p>
  return (
    <ul className="reasons" data-testid="reasons">
      {reasons.map((reason) => (
        <li key={reason.rule}>
          <span className="reason-weight num" title="Score points this rule added">
            +{reason.weight}
          </span>
          <span>
            <strong title={`Rule ${reason.rule}`}>{reason.text}</strong>
            {reason.values && Object.keys(reason.values).length > 0 && (
              <span className="reason-values mono">
                {Object.entries(reason.values)
                  .map(([key, value]) => `${valueLabel(key)}: ${String(value)}`)
                  .join(' · ')}
              </span>
            )}
          </span>
        </li>
      ))}
    </ul>
  )
}
