import { describe, expect, it } from 'vitest'
import { T0, txn } from '../../../test/support/transaction-fixture'
import { DEFAULT_RULES, RuleSet, type Rule } from '../../shared/rules'
import { Score, type Transaction } from '../../shared/transaction'
import { generateTransactions, GENERATOR_BLOCKLIST } from './generator'
import { createListMatcher, emptyUserState, MODEL_VERSION, scoreTransaction, type UserState } from './index'

const noLists = createListMatcher([])

function only(rule: Rule, thresholds = { review: 40, block: 80 }): RuleSet {
  return RuleSet.parse({ version: 3, thresholds, rules: [rule] })
}

/** Scores a user's transactions in order; returns the scores. */
function scoreAll(
  transactions: Transaction[],
  rules: RuleSet,
  lists = noLists,
  state: UserState = emptyUserState(),
) {
  return transactions.map((transaction) => scoreTransaction(transaction, state, rules, lists).score)
}

describe('rules', () => {
  it('high_value applies the most specific limit and says the amount and limit', () => {
    const rules = only({
      id: 'high_value',
      kind: 'high_value',
      enabled: true,
      weight: 50,
      limits: [
        { max_amount: '100.00' },
        { type: 'TRANSFER', max_amount: '1000.00' },
        { type: 'TRANSFER', currency: 'EUR', max_amount: '500.00' },
        { currency: 'EUR', max_amount: '50.00' },
      ],
    })
    const at = (fields: Partial<Transaction>) => scoreAll([txn(fields)], rules)[0]
    expect(at({ type: 'TRANSFER', amount: '999.99' })?.score).toBe(0)
    expect(at({ type: 'TRANSFER', amount: '1000.01' })?.reasons).toEqual([
      {
        rule: 'high_value',
        text: 'TRANSFER of 1,000.01 USD, limit 1,000.00',
        weight: 50,
        values: { amount: '1000.01', limit: '1000.00' },
      },
    ])
    expect(at({ type: 'TRANSFER', currency: 'EUR', amount: '500.01' })?.score).toBe(50)
    expect(at({ type: 'PAYMENT', currency: 'EUR', amount: '50.01' })?.score).toBe(50)
    expect(at({ type: 'PAYMENT', amount: '100.00' })?.score).toBe(0)
  })

  it('velocity counts this transaction with the earlier ones in the window', () => {
    const rules = only({
      id: 'velocity_1h',
      kind: 'velocity',
      enabled: true,
      weight: 30,
      window: '1h',
      max_count: 10,
    })
    const scores = scoreAll(
      Array.from({ length: 14 }, (_, i) => txn({ at: T0 + i * 60_000 })),
      rules,
    )
    expect(scores.map((s) => s.score)).toEqual([...Array<number>(10).fill(0), 30, 30, 30, 30])
    expect(scores[13]?.reasons[0]).toMatchObject({
      text: '14 transactions in 1 h, limit 10',
      values: { count: 14, limit: 10 },
    })
  })

  it('velocity sums need an earlier transaction: one large amount is high_value', () => {
    const rules = only({
      id: 'sum_24h',
      kind: 'velocity',
      enabled: true,
      weight: 20,
      window: '24h',
      max_sum: '1000.00',
    })
    const scores = scoreAll(
      [
        txn({ amount: '1500.00' }),
        txn({ at: T0 + 1, amount: '1.00' }),
        txn({ at: T0 + 86_400_000, amount: '1.00' }),
      ],
      rules,
    )
    expect(scores.map((s) => s.score)).toEqual([0, 20, 0])
    expect(scores[1]?.reasons[0]?.text).toBe('1,501.00 USD in 24 h, limit 1,000.00')
  })

  it('a blocklist hit blocks whatever the score, and names what was listed', () => {
    const rules = only({
      id: 'blocklist',
      kind: 'blocklist',
      enabled: true,
      weight: 0,
      lists: ['ip', 'device'],
    })
    const lists = createListMatcher([...GENERATOR_BLOCKLIST, { kind: 'device', value: 'd-bad' }])
    const [listed, clean] = scoreAll(
      [
        txn({ source_ip: '203.0.113.9', device_id: 'd-bad' }),
        txn({ source_ip: '203.0.112.9', device_id: 'd-ok' }),
      ],
      rules,
      lists,
    )
    expect(listed).toMatchObject({ score: 0, decision: 'block' })
    expect(listed?.reasons[0]?.text).toBe('IP 203.0.113.9, device d-bad on the blocklist')
    expect(clean).toMatchObject({ score: 0, decision: 'approve', reasons: [] })
  })

  it('amount_zscore judges against the user’s own history, with a floor on the deviation', () => {
    const rules = only({
      id: 'amount_zscore',
      kind: 'amount_zscore',
      enabled: true,
      weight: 25,
      threshold: 3,
      min_history: 5,
      min_stddev: '1.00',
    })
    const steady = ['50.00', '50.00', '50.00', '50.00', '50.00'].map((amount, i) =>
      txn({ at: T0 + i, amount }),
    )
    expect(scoreAll([...steady, txn({ at: T0 + 9, amount: '53.00' })], rules).at(-1)?.score).toBe(0)
    const last = scoreAll([...steady, txn({ at: T0 + 9, amount: '53.01' })], rules).at(-1)
    expect(last?.score).toBe(25)
    expect(last?.reasons[0]?.text).toBe(
      "amount 53.01 is 3.0 standard deviations above this user's mean of 50.00 over 5 transactions, limit 3",
    )
    expect(
      scoreAll([...steady.slice(0, 4), txn({ at: T0 + 9, amount: '5000.00' })], rules).at(-1)?.score,
    ).toBe(0)
  })

  it('new_counterparty needs history and an amount', () => {
    const rules = only({
      id: 'new_counterparty',
      kind: 'new_counterparty',
      enabled: true,
      weight: 15,
      min_amount: '100.00',
      min_history: 2,
    })
    const scores = scoreAll(
      [
        txn({ counterparty_id: 'A', amount: '500.00' }),
        txn({ counterparty_id: 'A' }),
        txn({ counterparty_id: 'B', amount: '99.99' }),
        txn({ counterparty_id: 'C', amount: '100.00' }),
        txn({ counterparty_id: 'A', amount: '900.00' }),
      ],
      rules,
    )
    expect(scores.map((s) => s.score)).toEqual([0, 0, 0, 15, 0])
    expect(scores[3]?.reasons[0]?.text).toBe('first payment to C after 3 transactions, 100.00 USD')
  })

  it('new_device_or_ip reports each new signal', () => {
    const rules = only({
      id: 'new_device_or_ip',
      kind: 'new_device_or_ip',
      enabled: true,
      weight: 15,
      signals: ['device', 'ip'],
      min_history: 1,
    })
    const scores = scoreAll(
      [
        txn({ device_id: 'd1', source_ip: '10.0.0.1' }),
        txn({ device_id: 'd1', source_ip: '10.0.0.1' }),
        txn({ device_id: 'd2', source_ip: '10.0.0.9' }),
        txn({}),
      ],
      rules,
    )
    expect(scores.map((s) => s.score)).toEqual([0, 0, 15, 0])
    expect(scores[2]?.reasons[0]?.text).toBe(
      'new device d2 and IP 10.0.0.9 for this user after 2 transactions',
    )
  })

  it('balance rules read PaySim’s balances', () => {
    const rules = RuleSet.parse({
      ...DEFAULT_RULES,
      rules: DEFAULT_RULES.rules.map((rule) =>
        rule.kind.startsWith('balance') ? { ...rule, enabled: true } : rule,
      ),
    })
    const drain = txn({
      type: 'TRANSFER',
      amount: '181.00',
      balance_before: '181.00',
      balance_after: '0.00',
      cp_balance_before: '0.00',
      cp_balance_after: '0.00',
    })
    const fired = (fields: Partial<Transaction>) =>
      scoreAll([txn(fields)], rules)[0]?.reasons.map((reason) => reason.rule)
    expect(scoreAll([drain], rules)[0]?.reasons.map((r) => r.text)).toEqual([
      'TRANSFER of 181.00 USD empties the account (balance 181.00 → 0.00)',
      "recipient's balance stayed at 0.00 though 181.00 USD arrived",
    ])
    expect(
      fired({ type: 'PAYMENT', amount: '181.00', balance_before: '181.00', balance_after: '0.00' }),
    ).toEqual([])
    expect(
      fired({ type: 'CASH_OUT', amount: '50.00', balance_before: '40.00', balance_after: '0.00' }),
    ).toEqual(['balance_inconsistency_origin'])
    expect(
      fired({
        type: 'CASH_OUT',
        amount: '50.00',
        balance_before: '90.00',
        balance_after: '40.00',
        cp_balance_before: '5.00',
        cp_balance_after: '55.00',
      }),
    ).toEqual([])
    expect(fired({ type: 'CASH_OUT', amount: '50.00' })).toEqual([])
  })
})

describe('score and decision', () => {
  const rules = RuleSet.parse({
    version: 7,
    thresholds: { review: 30, block: 60 },
    rules: [
      { id: 'a', kind: 'high_value', enabled: true, weight: 30, limits: [{ max_amount: '10.00' }] },
      { id: 'b', kind: 'high_value', enabled: true, weight: 30, limits: [{ max_amount: '20.00' }] },
      { id: 'c', kind: 'high_value', enabled: true, weight: 70, limits: [{ max_amount: '30.00' }] },
      { id: 'off', kind: 'high_value', enabled: false, weight: 100, limits: [{ max_amount: '1.00' }] },
    ],
  })

  it('adds the weights of the rules that fired, up to 100, and decides by the thresholds', () => {
    const decide = (amount: string) => scoreAll([txn({ amount })], rules)[0]
    expect(decide('5.00')).toMatchObject({ score: 0, decision: 'approve' })
    expect(decide('15.00')).toMatchObject({ score: 30, decision: 'review' })
    expect(decide('25.00')).toMatchObject({ score: 60, decision: 'block' })
    expect(decide('35.00')).toMatchObject({ score: 100, decision: 'block' })
    const score = decide('35.00')
    expect(score?.reasons.map((reason) => reason.rule)).toEqual(['a', 'b', 'c'])
    expect(Score.parse(score)).toEqual(score)
    expect(score).toMatchObject({ model_version: MODEL_VERSION, rules_version: 7 })
  })

  it('never reads the label', () => {
    const labelled = scoreAll(
      generateTransactions({ seed: 3 }, 500).map(({ txn }) => ({ ...txn, label: true })),
      DEFAULT_RULES,
    )
    const unlabelled = scoreAll(
      generateTransactions({ seed: 3 }, 500).map(({ txn }) => ({ ...txn, label: false })),
      DEFAULT_RULES,
    )
    expect(labelled).toEqual(unlabelled)
  })
})

/** A seeded random source for the property test (mulberry32). */
function random(seed: number) {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

describe('determinism across owners', () => {
  /** Random users with bursts, equal and late timestamps, repeats of counterparties, devices and IPs. */
  function randomTraffic(seed: number, count: number): Transaction[] {
    const next = random(seed)
    const pick = (n: number) => Math.floor(next() * n)
    let clock = T0
    return Array.from({ length: count }, () => {
      const roll = next()
      clock += roll < 0.3 ? 0 : roll < 0.8 ? pick(20_000) : pick(4_000_000)
      const at = next() < 0.05 ? clock - pick(600_000) : clock
      return txn({
        at,
        user_id: `C${pick(8)}`,
        counterparty_id: `M${pick(30)}`,
        amount: `${pick(next() < 0.05 ? 100_000 : 300) + 1}.${String(pick(100)).padStart(2, '0')}`,
        ...(next() < 0.8 ? { device_id: `d${pick(6)}` } : {}),
        ...(next() < 0.8
          ? { source_ip: next() < 0.1 ? `203.0.113.${pick(256)}` : `198.51.100.${pick(12)}` }
          : {}),
      })
    })
  }

  it('gives identical scores when the state moves through JSON between any two transactions', () => {
    const lists = createListMatcher([...GENERATOR_BLOCKLIST])
    const sequences = [
      ...[11, 12, 13, 14, 15].map((seed) => randomTraffic(seed, 2_000)),
      generateTransactions({ seed: 5, users: 50, meanGapMs: 2_000 }, 3_000).map(({ txn }) => txn),
    ]
    sequences.forEach((sequence, index) => {
      const handOff = random(100 + index)
      const steadyStates = new Map<string, UserState>()
      const movingStates = new Map<string, UserState>()
      let handOffs = 0
      for (const transaction of sequence) {
        const steady = steadyStates.get(transaction.user_id) ?? emptyUserState()
        steadyStates.set(transaction.user_id, steady)
        const expected = scoreTransaction(transaction, steady, DEFAULT_RULES, lists)

        let state = movingStates.get(transaction.user_id) ?? emptyUserState()
        if (handOff() < 0.3) {
          // Another owner picks the user up from the stored jsonb.
          state = JSON.parse(JSON.stringify(state)) as UserState
          handOffs++
        }
        const actual = scoreTransaction(transaction, state, DEFAULT_RULES, lists)
        movingStates.set(transaction.user_id, actual.state)
        expect(actual.score).toEqual(expected.score)
        expect(actual.features).toEqual(expected.features)
      }
      expect(handOffs).toBeGreaterThan(sequence.length / 5)
    })
  })
})
