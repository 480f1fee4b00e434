import { describe, expect, it } from 'vitest'
import { Transaction } from '../../shared/transaction'
import { decodeTransaction, DEFAULT_TIME_WINDOW, describeSpan, encodeTransaction } from './wire'

/** The worker's clock in these tests: the window's upper end is measured from it. */
const NOW = Date.parse('2026-06-01T12:00:00Z')
const decode = (fields: readonly string[]) => decodeTransaction(fields, DEFAULT_TIME_WINDOW, NOW)

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
  user_id: ['', 'u'.repeat(128), 'u'.repeat(129), 'A\u0000B', 'A\tB', 'C1\n', undefined],
  counterparty_id: ['M\u0085', 'M\u007f1', 'M\u00a0'],
  type: ['PAYMENT', 'payment', 'REFUND', undefined],
  amount: ['0.01', '0', '0.00', '-1.00', '1.234', '1e3', '12345678901234567.00', ' 1.00', undefined],
  currency: ['EUR', 'usd', 'EURO', undefined],
  merchant_type: ['', 'm'.repeat(64), 'm'.repeat(65), 'food\r', 'café'],
  source_ip: ['10.0.0.1', '256.0.0.1', '::1', ':::::', '10.0.0', 'host.example', ''],
  device_id: ['d'.repeat(128), 'd'.repeat(129), '\u0000', 'dev\u001b[31m'],
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
    expect(decode(encodeTransaction(valid))).toEqual({ ok: true, txn: valid })
    const minimal: Transaction = {
      txn_id: valid.txn_id,
      ts: valid.ts,
      user_id: valid.user_id,
      counterparty_id: valid.counterparty_id,
      type: valid.type,
      amount: valid.amount,
      currency: valid.currency,
    }
    expect(decode(encodeTransaction(minimal))).toEqual({ ok: true, txn: minimal })
  })

  it('accepts exactly what the zod schema accepts', () => {
    for (const [name, values] of Object.entries(variants))
      for (const value of values) {
        const decoded = decode(fieldsWith(name, value))
        const candidate: Record<string, unknown> = { ...valid }
        if (value === undefined) delete candidate[name]
        else candidate[name] = value
        expect([name, value, decoded.ok]).toEqual([name, value, Transaction.safeParse(candidate).success])
        if (!decoded.ok) expect(decoded.reason).toContain(name)
      }
  })

  it('names what is wrong with an entry that is not a transaction of this version', () => {
    expect(decode(fieldsWith('v', '2'))).toEqual({
      ok: false,
      reason: expect.stringMatching(/v=2 is not supported/),
    })
    expect(decode(fieldsWith('v', undefined))).toEqual({
      ok: false,
      reason: 'missing schema version field v',
    })
    expect(decode(fieldsWith('label', 'yes'))).toEqual({
      ok: false,
      reason: expect.stringMatching(/label/),
    })
    expect(decode(['v'])).toEqual({ ok: false, reason: expect.stringMatching(/odd number/) })
  })

  it('refuses free text whose bytes were not valid UTF-8', () => {
    const garbled = Buffer.from([0x43, 0xff, 0xfe, 0x31]).toString('utf8')
    expect(decode(fieldsWith('user_id', garbled))).toEqual({
      ok: false,
      reason: 'user_id: not valid UTF-8 (its bytes could not be read as text)',
    })
  })

  it('refuses control characters in free text, NUL first of all, naming the field', () => {
    for (const name of ['user_id', 'counterparty_id', 'merchant_type', 'device_id'])
      for (const value of ['A\u0000B', 'A\tB', 'A\u001fB', 'A\u007fB', 'A\u009fB'])
        expect(decode(fieldsWith(name, value))).toEqual({
          ok: false,
          reason: `${name}: must not contain control characters (such as NUL, tab or newline)`,
        })
    expect(decode(fieldsWith('user_id', 'Zoë 名前 ✓')).ok).toBe(true)
  })

  it('accepts a ts only from 2000-01-01 to one day ahead of the clock, and says which bound it broke', () => {
    const at = (ts: string) => decode(fieldsWith('ts', ts))
    for (const ts of ['0000-01-01T00:00:00Z', '0001-01-01T00:00:00Z', '1999-12-31T23:59:59.999Z'])
      expect(at(ts)).toMatchObject({
        ok: false,
        reason: `ts: ${ts} is before 2000-01-01T00:00:00.000Z, the earliest time accepted`,
        // The transaction itself, for the worker to look for an identical stored copy.
        outsideWindow: { ts },
      })
    for (const ts of ['2999-01-01T00:00:00Z', '2026-06-02T12:00:00.001Z', '2026-06-02T13:00:00+00:59'])
      expect(at(ts)).toMatchObject({
        ok: false,
        reason: `ts: ${ts} is more than 1 day ahead of this worker's clock (2026-06-01T12:00:00.000Z)`,
        outsideWindow: { ts },
      })
    for (const ts of ['2000-01-01T00:00:00Z', '2000-01-01T01:00:00+01:00', '2026-06-02T12:00:00Z'])
      expect(at(ts).ok).toBe(true)
  })

  it('takes the window it is given', () => {
    const window = { earliestMs: Date.parse('2026-01-01T00:00:00Z'), aheadMs: 90 * 60_000 }
    const at = (ts: string) => decodeTransaction(fieldsWith('ts', ts), window, NOW)
    expect(at('2025-12-31T23:59:59Z')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^ts: .*earliest/),
    })
    expect(at('2026-06-01T13:30:00Z').ok).toBe(true)
    expect(at('2026-06-01T13:30:01Z')).toMatchObject({
      ok: false,
      reason: expect.stringContaining('more than 90 minutes ahead'),
    })
    expect([describeSpan(86_400_000), describeSpan(2 * 3_600_000), describeSpan(1500)]).toEqual([
      '1 day',
      '2 hours',
      '1500 ms',
    ])
  })

  it('reads the API key id an entry names, and refuses one that is not a key id', () => {
    const withKey = (key: string) => decode([...encodeTransaction(valid), 'api_key', key])
    expect(decode(encodeTransaction(valid))).toEqual({ ok: true, txn: valid })
    expect(withKey('42')).toEqual({ ok: true, txn: valid, apiKeyId: '42' })
    expect(withKey('0042')).toMatchObject({ ok: true, apiKeyId: '42' })
    expect(withKey('9223372036854775807')).toMatchObject({ ok: true, apiKeyId: '9223372036854775807' })
    for (const bad of ['', '4x2', '-1', '+1', '1.0', ' 1', '１２', '12345678901234567890'])
      expect(withKey(bad), bad).toMatchObject({ ok: false, reason: expect.stringMatching(/^api_key: /) })
    expect(withKey('9223372036854775808')).toMatchObject({
      ok: false,
      reason: expect.stringContaining('beyond the largest key id'),
    })
  })
})
