import { describe, expect, it } from 'vitest'
import type { TransactionRow } from '../../../../shared/triage-contract'
import { copiedRows } from './copyRows'

const row = (txnId: string, sentBy: TransactionRow['sentBy']): TransactionRow => ({
  txnId,
  ts: '2026-01-05T09:00:00.000Z',
  userId: 'C1',
  counterpartyId: 'M1',
  type: 'PAYMENT',
  amount: '120.00',
  currency: 'USD',
  merchantType: null,
  sourceIp: null,
  deviceId: null,
  score: 72,
  decision: 'block',
  reasons: [{ rule: 'velocity_1h', text: '9 transfers\tin 1 h', weight: 40 }],
  caseId: 4,
  sentBy,
})

describe('"Copy selected"', () => {
  it('copies the grid\'s "Sent by" as the key\'s name, blank for a row not sent through the API', () => {
    const lines = copiedRows([
      row('t-api', { keyId: '7', name: 'shop-checkout', revoked: false }),
      row('t-revoked', { keyId: '8', name: 'old-shop', revoked: true }),
      row('t-unknown', { keyId: '9', name: null, revoked: false }),
      row('t-stream', null),
    ]).split('\n')
    const header = (lines[0] ?? '').split('\t')
    expect(header.at(-1)).toBe('sent_by')
    const sentBy = lines.slice(1).map((line) => line.split('\t')[header.indexOf('sent_by')])
    expect(sentBy).toEqual(['shop-checkout', 'old-shop (revoked)', 'key #9', ''])
    // Every line has every column; a tab inside a reason does not shift them.
    for (const line of lines) expect(line.split('\t')).toHaveLength(header.length)
    expect(lines[1]?.split('\t')[header.indexOf('case_id')]).toBe('4')
  })
})
