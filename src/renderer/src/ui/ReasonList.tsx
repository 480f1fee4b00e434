import type { Reason } from '../../../shared/transaction'

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
            <strong>{reason.text}</strong> <span className="mono subtle">{reason.rule}</span>
            {reason.values && Object.keys(reason.values).length > 0 && (
              <span className="reason-values mono">
                {Object.entries(reason.values)
                  .map(([key, value]) => `${key}=${String(value)}`)
                  .join(' · ')}
              </span>
            )}
          </span>
        </li>
      ))}
    </ul>
  )
}
