import type { Transaction } from '../../src/shared/transaction'

/** The moment hand-made test transactions happen at, unless they say otherwise. */
export const T0 = Date.parse('2026-03-01T12:00:00Z')

let serial = 0

/**
 * A small valid PAYMENT of user C1 to M1 at T0 (or `at`), with a fresh txn_id; `extra` overrides any field.
 * For hand-made scoring cases in unit tests.
 */
export function txn(extra: Partial<Transaction> & { at?: number } = {}): Transaction {
  serial++
  const { at = T0, ...fields } = extra
  return {
    txn_id: `00000000-0000-4000-8000-${String(serial).padStart(12, '0')}`,
    ts: new Date(at).toISOString(),
    user_id: 'C1',
    counterparty_id: 'M1',
    type: 'PAYMENT',
    amount: '10.00',
    currency: 'USD',
    ...fields,
  }
}
