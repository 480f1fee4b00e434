import { describe, expect, it } from 'vitest'
import { isIpAddress, Transaction } from './transaction'

const valid = {
  txn_id: '0b6f1d4e-8c1a-4d2b-9a57-3f0e2c1b4a90',
  ts: '2026-01-02T03:04:05.678Z',
  user_id: 'C1',
  counterparty_id: 'M1',
  type: 'PAYMENT',
  amount: '10.00',
  currency: 'USD',
}

const refusal = (changes: Record<string, unknown>) => {
  const parsed = Transaction.safeParse({ ...valid, ...changes })
  return parsed.success
    ? undefined
    : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)
}

describe('a transaction’s fields, refused at the door where the store would refuse them later', () => {
  it('takes the addresses PostgreSQL’s inet takes, and refuses those it refuses', () => {
    // Each checked against PostgreSQL 15 (`SELECT '…'::inet`) when written.
    for (const address of [
      '10.0.0.1',
      '2001:db8::7',
      '::',
      '::1',
      '1::',
      '::ffff:1.2.3.4',
      '1:2:3:4:5:6:7:8',
      '1:2:3:4:5:6:1.2.3.4',
      '1:2:3:4:5:6::8',
      'ABCD::EF01',
    ])
      expect(isIpAddress(address), address).toBe(true)
    for (const address of [
      '1:2',
      ':::',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      '12345::',
      '1.2.3.4::',
      'g::1',
      '1:2:3:4:5:6:7::8',
      '::1.2.3.4:5',
      ':1::',
      '1::2:',
      '1:2:3:4:5:6:7:1.2.3.4',
      '::01.2.3.4',
      '256.1.1.1',
      'fe80::1%eth0',
      '',
    ])
      expect(isIpAddress(address), address).toBe(false)
    expect(refusal({ source_ip: '1:2' })).toEqual(['source_ip: an IPv4 or IPv6 address'])
  })

  it('refuses text holding half of a UTF-16 surrogate pair, and takes whole pairs', () => {
    for (const [field, value] of [
      ['user_id', 'U\ud800x'],
      ['counterparty_id', 'M\udc00'],
      ['device_id', 'D\ud83d'],
      ['merchant_type', '\udfff'],
    ] as const)
      expect(refusal({ [field]: value })).toEqual([
        `${field}: must be valid Unicode text (it holds half of a UTF-16 surrogate pair)`,
      ])
    expect(refusal({ user_id: 'U\ud83d\ude00', merchant_type: 'café' })).toBeUndefined()
  })

  it('takes the UTC offsets PostgreSQL takes (under 16 hours), not further', () => {
    for (const ts of ['2026-01-02T03:04:05+14:00', '2026-01-02T03:04:05-12:00', '2026-01-02T03:04:05+15:59'])
      expect(refusal({ ts }), ts).toBeUndefined()
    for (const ts of ['2026-01-02T03:04:05+16:00', '2026-01-02T03:04:05-23:59'])
      expect(refusal({ ts }), ts).toEqual(['ts: a UTC offset within ±15:59'])
  })

  it('takes up to nanoseconds after the seconds, not more', () => {
    expect(refusal({ ts: '2026-01-02T03:04:05.123456789Z' })).toBeUndefined()
    expect(refusal({ ts: `2026-01-02T03:04:05.${'1'.repeat(10)}Z` })).toEqual([
      'ts: at most 9 digits after the seconds',
    ])
    expect(refusal({ ts: `2026-01-02T03:04:05.${'1'.repeat(200)}+02:00` })).toEqual([
      'ts: at most 9 digits after the seconds',
    ])
  })
})
