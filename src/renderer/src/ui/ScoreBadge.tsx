import type { Decision } from '../../../shared/transaction'
import { DECISION_LABELS } from './format'

/** A score as a badge coloured by its decision, so block, review and approve read at a glance. */
export function ScoreBadge({ score, decision }: { score: number | null; decision: Decision | null }) {
  if (score === null || decision === null) return <span className="subtle">not scored</span>
  return (
    <span
      className="score-badge"
      data-decision={decision}
      title={`${DECISION_LABELS[decision]} · score ${score}`}
    >
      {score}
    </span>
  )
}

export function DecisionChip({ decision }: { decision: Decision | null }) {
  if (decision === null) return null
  return (
    <span className="decision-chip" data-decision={decision}>
      {DECISION_LABELS[decision]}
    </span>
  )
}
