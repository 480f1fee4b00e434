import { z } from 'zod'
import { Money, PositiveMoney, TransactionType } from './transaction'

/**
 * A rule set is declarative and versioned as a whole: the streaming scorer (src/main/scoring) and the
 * DuckDB backtest (src/main/analysis/rules-sql.ts) both read this shape, so one saved version means the
 * same thing live and offline. Money parameters are 2-decimal strings, like transaction amounts.
 */

export const RuleId = z
  .string()
  .max(64)
  .regex(
    /^[a-z][a-z0-9_]{0,63}$/,
    'lower-case letters, digits and _, starting with a letter, such as velocity_1h',
  )

/** Velocity windows, in event time. */
export const VELOCITY_WINDOWS = ['1m', '1h', '24h'] as const
export const VelocityWindow = z.enum(VELOCITY_WINDOWS)
export type VelocityWindow = z.infer<typeof VelocityWindow>

export const LIST_KINDS = ['user', 'counterparty', 'ip', 'device'] as const
export const ListKind = z.enum(LIST_KINDS)
export type ListKind = z.infer<typeof ListKind>

const currencyCode = z
  .string()
  .length(3)
  .regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as USD')
const types = z.array(TransactionType).min(1, 'choose at least one transaction type').max(5)
const minHistory = z.number().int().min(0).max(10_000)

const ruleBase = {
  id: RuleId,
  enabled: z.boolean(),
  /** Score points this rule adds when it fires; the score is capped at 100. */
  weight: z.number().int().min(0).max(100),
}

/** Amount above a limit. The most specific matching limit applies: type+currency, type, currency, any. */
export const HighValueRule = z.object({
  ...ruleBase,
  kind: z.literal('high_value'),
  limits: z
    .array(
      z.object({
        type: TransactionType.optional(),
        currency: currencyCode.optional(),
        max_amount: PositiveMoney,
      }),
    )
    .min(1)
    .max(50),
})

/**
 * Count and/or sum of the user's transactions in a window of event time, this one included: "the 11th
 * transaction in 1 h" fires a limit of 10. The sum limit needs at least one earlier transaction in the
 * window (one large amount alone is high_value's concern). Amounts are summed as given, whatever their
 * currency.
 */
export const VelocityRule = z.object({
  ...ruleBase,
  kind: z.literal('velocity'),
  window: VelocityWindow,
  max_count: z.number().int().min(1).optional(),
  max_sum: PositiveMoney.optional(),
})

/** A listed user, counterparty, IP (networks in CIDR, v4 and v6) or device. A hit always blocks. */
export const BlocklistRule = z.object({
  ...ruleBase,
  kind: z.literal('blocklist'),
  lists: z.array(ListKind).min(1).max(4),
})

/** An amount far above the user's own earlier amounts: (amount - mean) / max(stddev, min_stddev). */
export const AmountZscoreRule = z.object({
  ...ruleBase,
  kind: z.literal('amount_zscore'),
  threshold: z.number().positive().max(1000),
  /** Earlier transactions the user needs before the rule judges; at least 2 for a standard deviation. */
  min_history: minHistory.min(2),
  /** Floor of the standard deviation, so a user who always pays the same amount is not infinitely odd. */
  min_stddev: PositiveMoney,
})

/** The first payment to a counterparty by a user with some history, at or above an amount. */
export const NewCounterpartyRule = z.object({
  ...ruleBase,
  kind: z.literal('new_counterparty'),
  min_amount: Money,
  min_history: minHistory,
})

/** A device or IP the user has not used before, for a user with some history. */
export const NewDeviceOrIpRule = z.object({
  ...ruleBase,
  kind: z.literal('new_device_or_ip'),
  signals: z
    .array(z.enum(['device', 'ip']))
    .min(1)
    .max(2),
  min_history: minHistory,
})

/** PaySim's fraud signature: a TRANSFER or CASH_OUT that empties the origin account. */
export const BalanceDrainRule = z.object({
  ...ruleBase,
  kind: z.literal('balance_drain'),
  types,
})

/**
 * Balances that do not add up. origin: balance_before - amount differs from balance_after by more than
 * the tolerance. destination: the counterparty's balance did not move (within the tolerance) though the
 * money arrived.
 */
export const BalanceInconsistencyRule = z.object({
  ...ruleBase,
  kind: z.literal('balance_inconsistency'),
  side: z.enum(['origin', 'destination']),
  types,
  tolerance: Money,
})

export const Rule = z.discriminatedUnion('kind', [
  HighValueRule,
  VelocityRule,
  BlocklistRule,
  AmountZscoreRule,
  NewCounterpartyRule,
  NewDeviceOrIpRule,
  BalanceDrainRule,
  BalanceInconsistencyRule,
])
export type Rule = z.infer<typeof Rule>
export type RuleKind = Rule['kind']

export const RuleSet = z
  .object({
    version: z.number().int().positive(),
    thresholds: z.object({
      review: z.number().int().min(1).max(100),
      block: z.number().int().min(1).max(100),
    }),
    rules: z.array(Rule).max(100),
  })
  .superRefine((set, ctx) => {
    if (set.thresholds.review > set.thresholds.block)
      ctx.addIssue({
        code: 'custom',
        path: ['thresholds', 'review'],
        message: 'the review threshold cannot be above the block threshold',
      })
    const seen = new Set<string>()
    set.rules.forEach((rule, index) => {
      if (seen.has(rule.id))
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'id'],
          message: `rule id ${rule.id} is used twice`,
        })
      seen.add(rule.id)
      if (rule.kind === 'velocity' && rule.max_count === undefined && rule.max_sum === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index],
          message: 'a velocity rule needs max_count, max_sum or both',
        })
    })
  })
export type RuleSet = z.infer<typeof RuleSet>

/**
 * Version 1. On the real PaySim sample (shared/data/paysim-first-20k.csv) a fraud is a TRANSFER or
 * CASH_OUT that empties the account (balance_drain), usually leaving the recipient's balance untouched
 * (balance_inconsistency_destination): both together block, either one with a high amount reviews. The
 * behavioural rules need repeated users, which the sample lacks; on the built-in generator's traffic
 * (scoring/generator.ts) more than 5 transactions in a minute or 10 in an hour reviews by itself, while
 * a z-score, a new counterparty or a new device/IP needs a second signal. The origin-side inconsistency
 * is off: most honest PaySim CASH_OUTs overdraw the account and so fail it.
 */
export const DEFAULT_RULES: RuleSet = {
  version: 1,
  thresholds: { review: 40, block: 80 },
  rules: [
    {
      id: 'blocklist',
      kind: 'blocklist',
      enabled: true,
      weight: 100,
      lists: ['user', 'counterparty', 'ip', 'device'],
    },
    {
      id: 'balance_drain',
      kind: 'balance_drain',
      enabled: true,
      weight: 60,
      types: ['TRANSFER', 'CASH_OUT'],
    },
    {
      id: 'balance_inconsistency_destination',
      kind: 'balance_inconsistency',
      enabled: true,
      weight: 25,
      side: 'destination',
      types: ['TRANSFER', 'CASH_OUT'],
      tolerance: '0.00',
    },
    {
      id: 'balance_inconsistency_origin',
      kind: 'balance_inconsistency',
      enabled: false,
      weight: 10,
      side: 'origin',
      types: ['TRANSFER', 'CASH_OUT'],
      tolerance: '0.01',
    },
    {
      id: 'high_value',
      kind: 'high_value',
      enabled: true,
      weight: 20,
      limits: [
        { type: 'TRANSFER', max_amount: '1000000.00' },
        { type: 'CASH_OUT', max_amount: '500000.00' },
        { type: 'PAYMENT', max_amount: '50000.00' },
        { type: 'DEBIT', max_amount: '20000.00' },
        { max_amount: '2000000.00' },
      ],
    },
    { id: 'velocity_1m', kind: 'velocity', enabled: true, weight: 40, window: '1m', max_count: 5 },
    { id: 'velocity_1h', kind: 'velocity', enabled: true, weight: 40, window: '1h', max_count: 10 },
    {
      id: 'velocity_24h_sum',
      kind: 'velocity',
      enabled: true,
      weight: 20,
      window: '24h',
      max_sum: '50000.00',
    },
    {
      id: 'amount_zscore',
      kind: 'amount_zscore',
      enabled: true,
      weight: 25,
      threshold: 4,
      min_history: 5,
      min_stddev: '10.00',
    },
    {
      id: 'new_counterparty',
      kind: 'new_counterparty',
      enabled: true,
      weight: 15,
      min_amount: '5000.00',
      min_history: 3,
    },
    {
      id: 'new_device_or_ip',
      kind: 'new_device_or_ip',
      enabled: true,
      weight: 15,
      signals: ['device', 'ip'],
      min_history: 3,
    },
  ],
}

const WINDOW_WORDS: Record<VelocityWindow, string> = { '1m': '1 min', '1h': '1 h', '24h': '24 h' }

/** Plain words for one rule, as the Rules page lists it. */
export function describeRule(rule: Rule): string {
  switch (rule.kind) {
    case 'high_value':
      return `amount above ${rule.limits
        .map(
          (limit) =>
            `${limit.max_amount}${limit.currency ? ` ${limit.currency}` : ''} for ${limit.type ?? 'any type'}`,
        )
        .join(', ')}`
    case 'velocity': {
      const limits = [
        rule.max_count === undefined ? undefined : `more than ${rule.max_count} transactions`,
        rule.max_sum === undefined ? undefined : `more than ${rule.max_sum} in total`,
      ].filter((part) => part !== undefined)
      return `${limits.join(' or ')} in ${WINDOW_WORDS[rule.window]}`
    }
    case 'blocklist':
      return `listed ${rule.lists.join(', ')}`
    case 'amount_zscore':
      return `amount more than ${rule.threshold} standard deviations above the user's mean (after ${rule.min_history} transactions, deviation at least ${rule.min_stddev})`
    case 'new_counterparty':
      return `first payment of ${rule.min_amount} or more to a counterparty (after ${rule.min_history} transactions)`
    case 'new_device_or_ip':
      return `new ${rule.signals.join(' or ')} for the user (after ${rule.min_history} transactions)`
    case 'balance_drain':
      return `${rule.types.join(' or ')} that empties the account`
    case 'balance_inconsistency':
      return rule.side === 'origin'
        ? `${rule.types.join(' or ')} where balance before - amount differs from balance after by more than ${rule.tolerance}`
        : `${rule.types.join(' or ')} where the recipient's balance does not move (within ${rule.tolerance})`
  }
}

type Flat = Map<string, string>

/** Rule parameters as path → printed value, so any field of any kind diffs the same way. */
function flatten(value: unknown, path: string, into: Flat): Flat {
  if (Array.isArray(value)) {
    if (value.every((item) => typeof item !== 'object' || item === null)) into.set(path, value.join(', '))
    else value.forEach((item, index) => flatten(item, `${path}[${index}]`, into))
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) flatten(item, path ? `${path}.${key}` : key, into)
  } else if (value !== undefined) into.set(path, String(value))
  return into
}

const HIDDEN_FIELDS = new Set(['id', 'kind', 'enabled', 'weight'])

/**
 * What changed from rule set `before` to `after`, one line per change in plain words, in the order of
 * `after` (removed rules last): the Rules page shows it beside each version's author.
 */
export function describeRuleChange(before: RuleSet, after: RuleSet): string[] {
  const changes: string[] = []
  for (const level of ['review', 'block'] as const)
    if (before.thresholds[level] !== after.thresholds[level])
      changes.push(`${level} threshold ${before.thresholds[level]} → ${after.thresholds[level]}`)

  const old = new Map(before.rules.map((rule) => [rule.id, rule]))
  for (const rule of after.rules) {
    const previous = old.get(rule.id)
    if (!previous) {
      changes.push(
        `added ${rule.id}: ${describeRule(rule)}, weight ${rule.weight}${rule.enabled ? '' : ' (disabled)'}`,
      )
      continue
    }
    if (previous.kind !== rule.kind) {
      changes.push(`${rule.id}: now ${describeRule(rule)} (was ${describeRule(previous)})`)
      continue
    }
    if (previous.enabled !== rule.enabled)
      changes.push(`${rule.id}: ${rule.enabled ? 'enabled' : 'disabled'}`)
    if (previous.weight !== rule.weight)
      changes.push(`${rule.id}: weight ${previous.weight} → ${rule.weight}`)
    const was = flatten(previous, '', new Map())
    const now = flatten(rule, '', new Map())
    for (const [path, value] of now) {
      if (HIDDEN_FIELDS.has(path) || was.get(path) === value) continue
      changes.push(`${rule.id}: ${path} ${was.get(path) ?? '(none)'} → ${value}`)
    }
    for (const [path, value] of was)
      if (!HIDDEN_FIELDS.has(path) && !now.has(path)) changes.push(`${rule.id}: ${path} ${value} → (none)`)
  }
  const kept = new Set(after.rules.map((rule) => rule.id))
  for (const rule of before.rules)
    if (!kept.has(rule.id)) changes.push(`removed ${rule.id}: ${describeRule(rule)}`)
  return changes
}
