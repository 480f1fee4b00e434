import { describe, expect, it } from 'vitest'
import { Transaction } from '../../shared/transaction'
import { decodeTransaction, encodeTransaction } from './wire'

const valid: Transaction = {
  txn_id: '0b3a3e4c-1d2e-4f5a-9b8c-7d6e5f4a3b2c',
  ts: '2026-01-01T10:00:00.123+02:00',
  user_id: 'C1231006815',
  counterparty_id: 'M1979787155',
  type: 'TRANSFER',
  amount: '9839.64',
  currency: 'USD',
  merchant_type: 'luxury_goods',
  source_ip: '2001:db8::1',
  device_id: 'dev-1',
  balance_before: '170136.00',
  balance_after: '160296.36',
  cp_balance_before: '0',
  cp_balance_after: '0.5',
  label: false,
}

/** Field values that probe each rule of the schema at and around its edge. */
const variants: Record<string, (string | undefined)[]> = {
  txn_id: [
    '0B3A3E4C-1D2E-4F5A-9B8C-7D6E5F4A3B2C',
    '0b3a3e4c-1d2e-0f5a-9b8c-7d6e5f4a3b2c',
    'x',
    '',
    undefined,
  ],
  ts: [
    '2026-01-01T10:00:00Z',
    '2026-02-29T10:00:00Z',
    '2024-02-29T10:00:00Z',
    '2026-01-01 10:00:00Z',
    '2026-01-01T10:00:00',
    '2026-01-01T24:00:00Z',
    undefined,
  ],
  user_id: ['', 'u'.repeat(128), 'u'.repeat(129), undefined],
  type: ['PAYMENT', 'payment', 'REFUND', undefined],
  amount: ['0.01', '0', '0.00', '-1.00', '1.234', '1e3', '12345678901234567.00', ' 1.00', undefined],
  currency: ['EUR', 'usd', 'EURO', undefined],
  merchant_type: ['', 'm'.repeat(64), 'm'.repeat(65)],
  source_ip: ['10.0.0.1', '256.0.0.1', '::1', ':::::', '10.0.0', 'host.example', ''],
  device_id: ['d'.repeat(128), 'd'.repeat(129)],
  balance_before: ['-5.00', '5.5', '5.555', 'abc'],
}

function fieldsWith(name: string, value: string | undefined): string[] {
  const fields = encodeTransaction(valid)
  const index = fields.indexOf(name)
  if (value === undefined) fields.splice(index, 2)
  else fields[index + 1] = value
  return fields
}

describe('the stream wire format', () => {
  it('round-trips a transaction', () => {
    expect(decodeTransaction(encodeTransaction(valid))).toEqual({ ok: true, txn: valid })
    const minimal: Transaction = {
      txn_id: valid.txn_id,
      ts: valid.ts,
      user_id: valid.user_id,
      counterparty_id: valid.counterparty_id,
      type: valid.type,
      amount: valid.amount,
      currency: valid.currency,
    }
    expect(decodeTransaction(encodeTransaction(minimal))).toEqual({ ok: true, txn: minimal })
  })

  it('accepts exactly what the zod schema accepts', () => {
    for (const [name, values] of Object.entries(variants))
      for (const value of values) {
        const decoded = decodeTransaction(fieldsWith(name, value))
        const candidate: Record<string, unknown> = { ...valid }
        if (value === undefined) delete candidate[name]
        else candidate[name] = value
        expect([name, value, decoded.ok]).toEqual([name, value, Transaction.safeParse(candidate).success])
        if (!decoded.ok) expect(decoded.reason).toContain(name)
      }
  })

  it('names what is wrong with an entry that is not a transaction of this version', () => {
    expect(decodeTransaction(fieldsWith('v', '2'))).toEqual({
      ok: false,
      reason: expect.stringMatching(/v=2 is not supported/),
    })
    expect(decodeTransaction(fieldsWith('v', undefined))).toEqual({
      ok: false,
      reason: 'missing schema version field v',
    })
    expect(decodeTransaction(fieldsWith('label', 'yes'))).toEqual({
      ok: false,
      reason: expect.stringMatching(/label/),
    })
    expect(decodeTransaction(['v'])).toEqual({ ok: false, reason: expect.stringMatching(/odd number/) })
  })

  it('refuses free text whose bytes were not valid UTF-8', () => {
    const garbled = Buffer.from([0x43, 0xff, 0xfe, 0x31]).toString('utf8')
    expect(decodeTransaction(fieldsWith('user_id', garbled))).toEqual({
      ok: false,
      reason: 'user_id: not valid UTF-8 (its bytes could not be read as text)',
    })
  })
})
