import type { Rule, RuleSet, VelocityWindow } from '../../shared/rules'
import type { Decision, Reason, Score, Transaction, TransactionType } from '../../shared/transaction'
import { advanceUserState, type Features, type UserState } from './features'
import type { ListMatcher } from './lists'
import { centsToMoney, formatCents, toCents } from './money'

/** Bump when the meaning of a feature or rule changes, so stored scores say which scorer made them. */
export const MODEL_VERSION = 'aether-rules-1'

export interface ScoredTransaction {
  score: Score
  /** The state given, advanced past this transaction (updated in place). */
  state: UserState
  features: Features
}

type Limit = { cents: number }

/** A rule with its money already in cents, so scoring parses nothing but the transaction. */
type RuleOf<K extends Rule['kind']> = Extract<Rule, { kind: K }>
type CompiledRule =
  | { kind: 'high_value'; rule: RuleOf<'high_value'>; limits: Map<string, Limit | null> }
  | { kind: 'velocity'; rule: RuleOf<'velocity'>; maxSumCents: number | null }
  | { kind: 'blocklist'; rule: RuleOf<'blocklist'> }
  | { kind: 'amount_zscore'; rule: RuleOf<'amount_zscore'>; minStddev: number }
  | { kind: 'new_counterparty'; rule: RuleOf<'new_counterparty'>; minCents: number }
  | { kind: 'new_device_or_ip'; rule: RuleOf<'new_device_or_ip'> }
  | { kind: 'balance_drain'; rule: RuleOf<'balance_drain'>; types: ReadonlySet<TransactionType> }
  | {
      kind: 'balance_inconsistency'
      rule: RuleOf<'balance_inconsistency'>
      types: ReadonlySet<TransactionType>
      toleranceCents: number
    }

const compiledSets = new WeakMap<RuleSet, CompiledRule[]>()

function compile(rules: RuleSet): CompiledRule[] {
  let compiled = compiledSets.get(rules)
  if (compiled) return compiled
  compiled = rules.rules
    .filter((rule) => rule.enabled)
    .map((rule): CompiledRule => {
      switch (rule.kind) {
        case 'high_value':
          return { kind: rule.kind, rule, limits: new Map() }
        case 'velocity':
          return {
            kind: rule.kind,
            rule,
            maxSumCents: rule.max_sum === undefined ? null : toCents(rule.max_sum),
          }
        case 'blocklist':
          return { kind: rule.kind, rule }
        case 'amount_zscore':
          return { kind: rule.kind, rule, minStddev: toCents(rule.min_stddev) / 100 }
        case 'new_counterparty':
          return { kind: rule.kind, rule, minCents: toCents(rule.min_amount) }
        case 'new_device_or_ip':
          return { kind: rule.kind, rule }
        case 'balance_drain':
          return { kind: rule.kind, rule, types: new Set(rule.types) }
        case 'balance_inconsistency':
          return {
            kind: rule.kind,
            rule,
            types: new Set(rule.types),
            toleranceCents: toCents(rule.tolerance),
          }
      }
    })
  compiledSets.set(rules, compiled)
  return compiled
}

/** Which limit of a high_value rule applies, most specific first: [matches type, matches currency]. */
export const LIMIT_SPECIFICITY = [
  [true, true],
  [true, false],
  [false, true],
  [false, false],
] as const

function applicableLimit(rule: RuleOf<'high_value'>, type: TransactionType, currency: string) {
  for (const [byType, byCurrency] of LIMIT_SPECIFICITY) {
    const limit = rule.limits.find(
      (candidate) =>
        (byType ? candidate.type === type : candidate.type === undefined) &&
        (byCurrency ? candidate.currency === currency : candidate.currency === undefined),
    )
    if (limit) return limit
  }
  return undefined
}

const WINDOW_WORDS: Record<VelocityWindow, string> = { '1m': '1 min', '1h': '1 h', '24h': '24 h' }
const round2 = (value: number) => Math.round(value * 100) / 100

/** The reason a rule fires for this transaction, or null. */
function evaluate(
  compiled: CompiledRule,
  txn: Transaction,
  amountCents: number,
  features: Features,
  lists: ListMatcher,
): Reason | null {
  switch (compiled.kind) {
    case 'high_value': {
      const rule = compiled.rule
      const key = `${txn.type} ${txn.currency}`
      let limit = compiled.limits.get(key)
      if (limit === undefined) {
        const found = applicableLimit(rule, txn.type, txn.currency)
        limit = found ? { cents: toCents(found.max_amount) } : null
        compiled.limits.set(key, limit)
      }
      if (limit === null || amountCents <= limit.cents) return null
      return {
        rule: rule.id,
        text: `${txn.type} of ${formatCents(amountCents)} ${txn.currency}, limit ${formatCents(limit.cents)}`,
        weight: rule.weight,
        values: { amount: txn.amount, limit: centsToMoney(limit.cents) },
      }
    }
    case 'velocity': {
      const rule = compiled.rule
      const maxSumCents = compiled.maxSumCents
      const { window: span } = rule
      const earlier = span === '1m' ? features.count1m : span === '1h' ? features.count1h : features.count24h
      const earlierCents =
        span === '1m' ? features.sum1mCents : span === '1h' ? features.sum1hCents : features.sum24hCents
      const count = earlier + 1
      const sumCents = earlierCents + amountCents
      const overCount = rule.max_count !== undefined && count > rule.max_count
      // A single transaction over the sum is high_value's concern: velocity is about accumulation.
      const overSum = maxSumCents !== null && earlier > 0 && sumCents > maxSumCents
      if (!overCount && !overSum) return null
      const window = WINDOW_WORDS[span]
      const parts: string[] = []
      if (overCount) parts.push(`${count} transactions in ${window}, limit ${rule.max_count}`)
      if (overSum)
        parts.push(`${formatCents(sumCents)} ${txn.currency} in ${window}, limit ${formatCents(maxSumCents)}`)
      return {
        rule: rule.id,
        text: parts.join('; '),
        weight: rule.weight,
        values: {
          count,
          sum: centsToMoney(sumCents),
          ...(rule.max_count === undefined ? {} : { limit: rule.max_count }),
          ...(rule.max_sum === undefined ? {} : { sum_limit: rule.max_sum }),
        },
      }
    }
    case 'blocklist': {
      const rule = compiled.rule
      const hits: string[] = []
      const values: Record<string, string> = {}
      for (const kind of rule.lists) {
        if (kind === 'ip') {
          if (txn.source_ip !== undefined && lists.isIpListed(txn.source_ip)) {
            hits.push(`IP ${txn.source_ip}`)
            values.ip = txn.source_ip
          }
          continue
        }
        const value =
          kind === 'user' ? txn.user_id : kind === 'counterparty' ? txn.counterparty_id : txn.device_id
        if (value !== undefined && lists.isListed(kind, value)) {
          hits.push(`${kind} ${value}`)
          values[kind] = value
        }
      }
      if (hits.length === 0) return null
      return { rule: rule.id, text: `${hits.join(', ')} on the blocklist`, weight: rule.weight, values }
    }
    case 'amount_zscore': {
      const rule = compiled.rule
      const { meanAmount: mean, stddevAmount: stddev, history } = features
      if (history < rule.min_history || mean === null || stddev === null) return null
      const deviation = Math.max(stddev, compiled.minStddev)
      const z = (amountCents / 100 - mean) / deviation
      if (!(z > rule.threshold)) return null
      return {
        rule: rule.id,
        text: `amount ${formatCents(amountCents)} is ${z.toFixed(1)} standard deviations above this user's mean of ${formatCents(Math.round(mean * 100))} over ${history} transactions, limit ${rule.threshold}`,
        weight: rule.weight,
        values: { z: round2(z), mean: round2(mean), stddev: round2(stddev), history, limit: rule.threshold },
      }
    }
    case 'new_counterparty': {
      const rule = compiled.rule
      if (!features.newCounterparty || features.history < rule.min_history) return null
      if (amountCents < compiled.minCents) return null
      return {
        rule: rule.id,
        text: `first payment to ${txn.counterparty_id} after ${features.history} transactions, ${formatCents(amountCents)} ${txn.currency}`,
        weight: rule.weight,
        values: { counterparty: txn.counterparty_id, amount: txn.amount, min_amount: rule.min_amount },
      }
    }
    case 'new_device_or_ip': {
      const rule = compiled.rule
      if (features.history < rule.min_history) return null
      const parts: string[] = []
      const values: Record<string, string> = {}
      for (const signal of rule.signals) {
        if (signal === 'device' && features.newDevice === true && txn.device_id !== undefined) {
          parts.push(`device ${txn.device_id}`)
          values.device = txn.device_id
        } else if (signal === 'ip' && features.newIp === true && txn.source_ip !== undefined) {
          parts.push(`IP ${txn.source_ip}`)
          values.ip = txn.source_ip
        }
      }
      if (parts.length === 0) return null
      return {
        rule: rule.id,
        text: `new ${parts.join(' and ')} for this user after ${features.history} transactions`,
        weight: rule.weight,
        values,
      }
    }
    case 'balance_drain': {
      const rule = compiled.rule
      if (!compiled.types.has(txn.type)) return null
      if (txn.balance_before === undefined || txn.balance_after === undefined) return null
      if (toCents(txn.balance_before) !== amountCents || toCents(txn.balance_after) !== 0) return null
      return {
        rule: rule.id,
        text: `${txn.type} of ${formatCents(amountCents)} ${txn.currency} empties the account (balance ${formatCents(amountCents)} → 0.00)`,
        weight: rule.weight,
        values: { amount: txn.amount, balance_before: txn.balance_before },
      }
    }
    case 'balance_inconsistency': {
      const rule = compiled.rule
      const { types, toleranceCents } = compiled
      if (!types.has(txn.type)) return null
      if (rule.side === 'origin') {
        if (txn.balance_before === undefined || txn.balance_after === undefined) return null
        const before = toCents(txn.balance_before)
        const after = toCents(txn.balance_after)
        if (Math.abs(before - amountCents - after) <= toleranceCents) return null
        return {
          rule: rule.id,
          text: `balance ${formatCents(before)} minus ${formatCents(amountCents)} should leave ${formatCents(before - amountCents)}, the account shows ${formatCents(after)}`,
          weight: rule.weight,
          values: {
            balance_before: txn.balance_before,
            amount: txn.amount,
            balance_after: txn.balance_after,
          },
        }
      }
      if (txn.cp_balance_before === undefined || txn.cp_balance_after === undefined) return null
      const before = toCents(txn.cp_balance_before)
      if (Math.abs(toCents(txn.cp_balance_after) - before) > toleranceCents) return null
      return {
        rule: rule.id,
        text: `recipient's balance stayed at ${formatCents(before)} though ${formatCents(amountCents)} ${txn.currency} arrived`,
        weight: rule.weight,
        values: {
          cp_balance_before: txn.cp_balance_before,
          cp_balance_after: txn.cp_balance_after,
          amount: txn.amount,
        },
      }
    }
  }
}

export function decide(score: number, blocked: boolean, thresholds: RuleSet['thresholds']): Decision {
  if (blocked || score >= thresholds.block) return 'block'
  return score >= thresholds.review ? 'review' : 'approve'
}

/**
 * Advances `state` past `txn` exactly as scoreTransaction does, without scoring it: for a transaction
 * scored and stored before, whose user's state is being brought up to date again (a replay).
 */
export function replayTransaction(txn: Transaction, state: UserState): void {
  advanceUserState(state, txn, toCents(txn.amount))
}

/**
 * Scores one transaction of a user against the user's state and advances the state past it (in place).
 * Call it for each user's transactions in order; the state is plain JSON and may move between workers
 * between any two calls. `rules` must be a parsed RuleSet (it is not validated here, for speed; its
 * compiled form is cached per object). Money is compared as integer cents.
 */
export function scoreTransaction(
  txn: Transaction,
  state: UserState,
  rules: RuleSet,
  lists: ListMatcher,
): ScoredTransaction {
  const compiled = compile(rules)
  const amountCents = toCents(txn.amount)
  const features = advanceUserState(state, txn, amountCents)
  const reasons: Reason[] = []
  let blocked = false
  let points = 0
  for (const rule of compiled) {
    const reason = evaluate(rule, txn, amountCents, features, lists)
    if (reason) {
      reasons.push(reason)
      points += reason.weight
      if (rule.kind === 'blocklist') blocked = true
    }
  }
  const score = Math.min(100, points)
  return {
    score: {
      score,
      decision: decide(score, blocked, rules.thresholds),
      reasons,
      model_version: MODEL_VERSION,
      rules_version: rules.version,
    },
    state,
    features,
  }
}
