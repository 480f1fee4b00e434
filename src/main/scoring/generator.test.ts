import { describe, expect, it } from 'vitest'
import { Transaction } from '../../shared/transaction'
import { FRAUD_PATTERNS, generateTransactions, generateTraffic } from './generator'

describe('generateTraffic', () => {
  const traffic = generateTransactions({ seed: 42, users: 500, fraudRate: 0.02 }, 5_000)

  it('gives the same transactions for the same seed, and others for another seed', () => {
    expect(generateTransactions({ seed: 42, users: 500, fraudRate: 0.02 }, 5_000)).toEqual(traffic)
    const other = generateTransactions({ seed: 43, users: 500, fraudRate: 0.02 }, 5_000)
    expect(other.map(({ txn }) => txn.txn_id)).not.toEqual(traffic.map(({ txn }) => txn.txn_id))
  })

  it('yields valid transactions with unique ids, in event-time order', () => {
    const ids = new Set<string>()
    let previous = 0
    for (const { txn } of traffic) {
      expect(Transaction.parse(txn)).toEqual(txn)
      ids.add(txn.txn_id)
      const ms = Date.parse(txn.ts)
      expect(ms).toBeGreaterThanOrEqual(previous)
      previous = ms
    }
    expect(ids.size).toBe(traffic.length)
  })

  it('injects every pattern, labelled, and labels honest traffic false', () => {
    for (const pattern of FRAUD_PATTERNS)
      expect(
        traffic.some((item) => item.pattern === pattern),
        pattern,
      ).toBe(true)
    for (const { txn, pattern } of traffic) expect(txn.label).toBe(pattern !== null)
  })

  it('keeps honest balances consistent: an honest transaction never empties the account exactly', () => {
    for (const { txn, pattern } of traffic) {
      if (pattern !== null || txn.type === 'CASH_IN') continue
      expect(txn.amount === txn.balance_before && txn.balance_after === '0.00', txn.txn_id).toBe(false)
    }
  })

  it('drains an account with a TRANSFER to a mule, then the mule cashes out all of it', () => {
    const drains = traffic.filter((item) => item.pattern === 'account_drain').map((item) => item.txn)
    const transfer = drains.find((txn) => txn.type === 'TRANSFER')
    expect(transfer).toMatchObject({ balance_after: '0.00', balance_before: transfer?.amount })
    const cashOut = drains.find((txn) => txn.type === 'CASH_OUT' && txn.user_id === transfer?.counterparty_id)
    expect(cashOut).toMatchObject({
      amount: transfer?.amount,
      balance_before: transfer?.amount,
      balance_after: '0.00',
    })
  })

  it('can leave the fraud out', () => {
    const honest = generateTransactions({ seed: 1, users: 100, patterns: [] }, 2_000)
    expect(honest.every((item) => item.pattern === null)).toBe(true)
  })

  it('streams without end', () => {
    const stream = generateTraffic({ seed: 9, users: 100 })
    let yielded = 0
    while (yielded < 20_000 && !stream.next().done) yielded++
    expect(yielded).toBe(20_000)
  })
})
