import { describe, expect, it } from 'vitest'
import { DEFAULT_RULES, describeRuleChange, RuleSet } from './rules'

describe('RuleSet', () => {
  it('accepts the default rules', () => {
    expect(RuleSet.parse(DEFAULT_RULES)).toEqual(DEFAULT_RULES)
  })

  it('says what is wrong with a rule set', () => {
    const messages = (input: unknown) => {
      const result = RuleSet.safeParse(input)
      return result.success
        ? []
        : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)
    }
    expect(
      messages({
        version: 2,
        thresholds: { review: 90, block: 50 },
        rules: [
          { id: 'v', kind: 'velocity', enabled: true, weight: 10, window: '1h' },
          { id: 'v', kind: 'blocklist', enabled: true, weight: 10, lists: ['ip'] },
        ],
      }),
    ).toEqual([
      'thresholds.review: the review threshold cannot be above the block threshold',
      'rules.0: a velocity rule needs max_count, max_sum or both',
      'rules.1.id: rule id v is used twice',
    ])
    expect(
      messages({ ...DEFAULT_RULES, rules: [{ id: 'x', kind: 'teleport', enabled: true, weight: 1 }] }),
    ).toHaveLength(1)
    expect(
      messages({
        ...DEFAULT_RULES,
        rules: [
          { id: 'hv', kind: 'high_value', enabled: true, weight: 1, limits: [{ max_amount: '1.001' }] },
        ],
      }),
    ).toEqual(['rules.0.limits.0.max_amount: a decimal number with at most 2 decimal places, such as 181.00'])
    expect(
      messages({
        ...DEFAULT_RULES,
        rules: [
          {
            id: 'z',
            kind: 'amount_zscore',
            enabled: true,
            weight: 1,
            threshold: 3,
            min_history: 1,
            min_stddev: '1.00',
          },
        ],
      }),
    ).toHaveLength(1)
  })
})

describe('describeRuleChange', () => {
  it('lists each change in plain words', () => {
    const next = RuleSet.parse({
      ...DEFAULT_RULES,
      version: 2,
      thresholds: { review: 50, block: 80 },
      rules: [
        ...DEFAULT_RULES.rules
          .filter((rule) => rule.id !== 'new_device_or_ip')
          .map((rule) => {
            if (rule.id === 'velocity_1h') return { ...rule, weight: 35, max_count: 12 }
            if (rule.id === 'balance_inconsistency_origin') return { ...rule, enabled: true }
            if (rule.kind === 'high_value')
              return {
                ...rule,
                limits: rule.limits.map((limit, i) =>
                  i === 0 ? { ...limit, max_amount: '750000.00' } : limit,
                ),
              }
            return rule
          }),
        {
          id: 'velocity_1m_sum',
          kind: 'velocity',
          enabled: true,
          weight: 10,
          window: '1m',
          max_sum: '1000.00',
        },
      ],
    })
    expect(describeRuleChange(DEFAULT_RULES, next)).toEqual([
      'review threshold 40 → 50',
      'balance_inconsistency_origin: enabled',
      'high_value: limits[0].max_amount 1000000.00 → 750000.00',
      'velocity_1h: weight 40 → 35',
      'velocity_1h: max_count 10 → 12',
      'added velocity_1m_sum: more than 1000.00 in total in 1 min, weight 10',
      'removed new_device_or_ip: new device or ip for the user (after 3 transactions)',
    ])
  })

  it('finds nothing between a rule set and itself', () => {
    expect(describeRuleChange(DEFAULT_RULES, structuredClone(DEFAULT_RULES))).toEqual([])
  })

  it('reports a parameter that was added or dropped', () => {
    const base = RuleSet.parse({
      version: 1,
      thresholds: { review: 40, block: 80 },
      rules: [{ id: 'v', kind: 'velocity', enabled: true, weight: 10, window: '1h', max_count: 5 }],
    })
    const next = RuleSet.parse({
      ...base,
      rules: [{ id: 'v', kind: 'velocity', enabled: true, weight: 10, window: '24h', max_sum: '900.00' }],
    })
    expect(describeRuleChange(base, next)).toEqual([
      'v: window 1h → 24h',
      'v: max_sum (none) → 900.00',
      'v: max_count 5 → (none)',
    ])
  })
})
