import type { RuleSet } from '../../../shared/rules'

const whole = (value: number, min: number, max: number) =>
  Number.isInteger(value) && value >= min && value <= max

/**
 * What keeps a rule set being edited from being saved, in plain words (the Rules page and the backtest's
 * version B both check it before they send anything): thresholds and weights within their bounds.
 */
export function ruleSetProblems(rules: RuleSet): string[] {
  const problems: string[] = []
  const { review, block } = rules.thresholds
  if (!whole(review, 1, 100)) problems.push('The review threshold is a whole number from 1 to 100.')
  if (!whole(block, 1, 100)) problems.push('The block threshold is a whole number from 1 to 100.')
  if (whole(review, 1, 100) && whole(block, 1, 100) && review > block)
    problems.push('The review threshold cannot be above the block threshold.')
  for (const rule of rules.rules)
    if (!whole(rule.weight, 0, 100))
      problems.push(`The weight of ${rule.id} is a whole number from 0 to 100.`)
  return problems
}
