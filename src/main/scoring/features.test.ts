import { describe, expect, it } from 'vitest'
import { T0, txn as transaction } from '../../../test/support/transaction-fixture'
import type { Transaction } from '../../shared/transaction'
import { advanceUserState, emptyUserState, MEMORY, type UserState } from './features'
import { toCents } from './money'

/** A PAYMENT of C1 at `at` (ms) of `amount`. */
const txn = (at: number, amount = '10.00', extra: Partial<Transaction> = {}): Transaction =>
  transaction({ at, amount, ...extra })

function feed(state: UserState, transactions: Transaction[]) {
  return transactions.map((transaction) => advanceUserState(state, transaction, toCents(transaction.amount)))
}

describe('velocity in event time', () => {
  it('counts the earlier transactions in (t - window, t], never the transaction itself', () => {
    const state = emptyUserState()
    const [first, second, third] = feed(state, [
      txn(T0, '1.00'),
      txn(T0 + 30_000, '2.00'),
      txn(T0 + 60_000, '4.00'),
    ])
    expect(first).toMatchObject({ history: 0, count1m: 0, sum1mCents: 0, count1h: 0 })
    expect(second).toMatchObject({ history: 1, count1m: 1, sum1mCents: 100, count1h: 1, sum1hCents: 100 })
    // Exactly one minute earlier is outside the 1 min window: (t - 1 min, t].
    expect(third).toMatchObject({ count1m: 1, sum1mCents: 200, count1h: 2, sum1hCents: 300, count24h: 2 })
  })

  it('counts earlier transactions with the same timestamp, in the order they were scored', () => {
    const state = emptyUserState()
    const features = feed(state, [txn(T0), txn(T0), txn(T0)])
    expect(features.map((f) => f.count1m)).toEqual([0, 1, 2])
  })

  it('forgets transactions older than 24 hours', () => {
    const state = emptyUserState()
    const features = feed(state, [
      txn(T0, '5.00'),
      txn(T0 + 86_400_000 - 1, '6.00'),
      txn(T0 + 86_400_000, '7.00'),
    ])
    expect(features[1]).toMatchObject({ count24h: 1, sum24hCents: 500 })
    expect(features[2]).toMatchObject({ count24h: 1, sum24hCents: 600, history: 2 })
    expect(state.recentMs).toHaveLength(2)
  })

  it('scores a late transaction at the latest event time the user has reached', () => {
    const state = emptyUserState()
    const features = feed(state, [txn(T0 + 3_600_000), txn(T0), txn(T0 + 3_600_000 + 30_000)])
    expect(features[1]?.eventMs).toBe(T0 + 3_600_000)
    expect(features[1]?.count1m).toBe(1)
    expect(features[2]?.count1m).toBe(2)
  })

  it('keeps at most MEMORY.recentTransactions, so counts and sums saturate there', () => {
    const state = emptyUserState()
    const burst = Array.from({ length: MEMORY.recentTransactions + 10 }, (_, i) => txn(T0 + i, '1.00'))
    const features = feed(state, burst)
    expect(features.at(-1)?.count1m).toBe(MEMORY.recentTransactions)
    expect(features.at(-1)?.sum1mCents).toBe(MEMORY.recentTransactions * 100)
    expect(features.at(-1)?.history).toBe(burst.length - 1)
  })
})

describe('amount statistics of the user', () => {
  it('gives the mean and sample standard deviation of the earlier amounts', () => {
    const state = emptyUserState()
    const amounts = ['10.00', '20.00', '30.00', '1000.00']
    const features = feed(
      state,
      amounts.map((amount, i) => txn(T0 + i * 1000, amount)),
    )
    expect(features[0]?.meanAmount).toBeNull()
    expect(features[1]?.stddevAmount).toBeNull()
    expect(features[3]?.meanAmount).toBeCloseTo(20, 10)
    expect(features[3]?.stddevAmount).toBeCloseTo(10, 10)
  })
})

describe('new counterparty, device and IP', () => {
  it('is new the first time only, and null when the transaction has no device or IP', () => {
    const state = emptyUserState()
    const features = feed(state, [
      txn(T0, '1.00', { counterparty_id: 'M1', device_id: 'd1', source_ip: '10.0.0.1' }),
      txn(T0 + 1, '1.00', { counterparty_id: 'M1', device_id: 'd1', source_ip: '10.0.0.2' }),
      txn(T0 + 2, '1.00', { counterparty_id: 'M2' }),
    ])
    expect(features.map((f) => [f.newCounterparty, f.newDevice, f.newIp])).toEqual([
      [true, true, true],
      [false, false, true],
      [true, null, null],
    ])
  })

  it('remembers the counterparty and device of the last MEMORY.recentValues transactions', () => {
    const state = emptyUserState()
    const others = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => txn(T0 + from + i, '1.00', { counterparty_id: `M${from + i}` }))
    feed(state, [txn(T0, '1.00', { counterparty_id: 'regular', device_id: 'phone' })])
    // Transactions without a device still take their slot.
    feed(state, others(1, MEMORY.recentValues - 1))
    const [back] = feed(state, [txn(T0 + 1_000, '1.00', { counterparty_id: 'regular', device_id: 'phone' })])
    feed(state, others(2_000, MEMORY.recentValues))
    const [gone] = feed(state, [txn(T0 + 3_000, '1.00', { counterparty_id: 'regular', device_id: 'phone' })])
    expect([back?.newCounterparty, back?.newDevice]).toEqual([false, false])
    expect([gone?.newCounterparty, gone?.newDevice]).toEqual([true, true])
    expect(state.counterparties).toHaveLength(MEMORY.recentValues)
    expect(state.devices).toHaveLength(MEMORY.recentValues)
  })
})

describe('UserState', () => {
  it('is plain JSON: a state that went through JSON gives the same features', () => {
    const live = emptyUserState()
    const history = Array.from({ length: 40 }, (_, i) =>
      txn(T0 + i * 7_000, `${(i * 37) % 500}.${i % 10}5`, {
        counterparty_id: `M${i % 6}`,
        device_id: `d${i % 3}`,
      }),
    )
    feed(live, history)
    const moved = JSON.parse(JSON.stringify(live)) as UserState
    const next = txn(T0 + 400_000, '77.70', { counterparty_id: 'M9', device_id: 'd1' })
    expect(feed(moved, [next])).toEqual(feed(live, [next]))
    expect(moved).toEqual(live)
  })
})
