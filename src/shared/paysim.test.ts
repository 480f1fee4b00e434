import { describe, expect, it } from 'vitest'
import {
  isPaysimHeader,
  parsePaysimLine,
  PAYSIM_COLUMNS,
  PaysimRowError,
  paysimMoney,
  paysimStepToTs,
  paysimTxnId,
  sha1,
  uuidV5,
} from './paysim'
import { Transaction } from './transaction'

const at = { datasetKey: 'paysim-first-20k.csv', line: 4 }

describe('parsePaysimLine', () => {
  it('maps a PaySim row to a valid Transaction', () => {
    const txn = parsePaysimLine('1,TRANSFER,181,C1305486145,181,0,C553264065,0,0,1,0', at)
    expect(txn).toEqual({
      txn_id: paysimTxnId('paysim-first-20k.csv', 4),
      ts: '2026-01-01T00:00:00.000Z',
      user_id: 'C1305486145',
      counterparty_id: 'C553264065',
      type: 'TRANSFER',
      amount: '181.00',
      currency: 'USD',
      balance_before: '181.00',
      balance_after: '0.00',
      cp_balance_before: '0.00',
      cp_balance_after: '0.00',
      label: true,
    })
    expect(Transaction.parse(txn)).toEqual(txn)
  })

  it('reads exponents and a Windows line end', () => {
    const txn = parsePaysimLine('1,TRANSFER,379856.23,C1449772539,0,0,C1590550415,900180,1.92E+07,0,0\r', at)
    expect(txn).toMatchObject({
      cp_balance_before: '900180.00',
      cp_balance_after: '19200000.00',
      label: false,
    })
  })

  it('names the line and the column of a bad value', () => {
    const bad = (line: string) => {
      try {
        parsePaysimLine(line, { datasetKey: 'k', line: 17 })
      } catch (error) {
        if (error instanceof PaysimRowError) return [error.line, error.column, error.message]
      }
      return undefined
    }
    expect(bad('1,TRANSFER,0,C1,0,0,C2,0,0,1,0')).toEqual([
      17,
      'amount',
      'line 17: amount must be a decimal greater than 0, got "0"',
    ])
    expect(bad('0,TRANSFER,5,C1,0,0,C2,0,0,1,0')?.slice(0, 2)).toEqual([17, 'step'])
    expect(bad('1,REFUND,5,C1,0,0,C2,0,0,1,0')?.slice(0, 2)).toEqual([17, 'type'])
    expect(bad('1,PAYMENT,5,C1,-3,0,C2,0,0,1,0')?.slice(0, 2)).toEqual([17, 'oldbalanceOrg'])
    expect(bad('1,PAYMENT,5,,0,0,C2,0,0,1,0')?.slice(0, 2)).toEqual([17, 'nameOrig'])
    expect(bad('1,PAYMENT,5,C1,0,0,C2,0,0,yes,0')?.slice(0, 2)).toEqual([17, 'isFraud'])
    expect(bad('1,PAYMENT,5,C1,0,0,C2,0,0,1')).toEqual([17, undefined, 'line 17: has 10 fields, expected 11'])
  })
})

describe('event time', () => {
  it('puts step 1 at the epoch and each later step an hour on', () => {
    expect(paysimStepToTs('1')).toBe('2026-01-01T00:00:00.000Z')
    expect(paysimStepToTs('743')).toBe('2026-01-31T22:00:00.000Z')
    expect(paysimStepToTs('0')).toBeNull()
    expect(paysimStepToTs('1.5')).toBeNull()
  })
})

describe('paysimMoney', () => {
  it('writes 2 decimals, rounding half away from zero as a DECIMAL cast does', () => {
    const cases: Record<string, string | null> = {
      '181': '181.00',
      '9839.64': '9839.64',
      '0.5': '0.50',
      '007.1': '7.10',
      '1.005': '1.01',
      '1.0049': '1.00',
      '0.995': '1.00',
      '1.92E+07': '19200000.00',
      '5e-3': '0.01',
      '4.9e-3': '0.00',
      '1e-40': '0.00',
      '123456789.123e-2': '1234567.89',
      '9999999999999999.99': '9999999999999999.99',
      '99999999999999999': null,
      '1e40': null,
      '-1': null,
      '1.': null,
      '': null,
      abc: null,
    }
    for (const [raw, expected] of Object.entries(cases)) expect(paysimMoney(raw), raw).toBe(expected)
  })
})

describe('txn_id', () => {
  it('is a UUID v5 of the dataset key and line: stable, and different per line and per file', () => {
    expect(paysimTxnId('a.csv', 2)).toBe(paysimTxnId('a.csv', 2))
    expect(paysimTxnId('a.csv', 3)).not.toBe(paysimTxnId('a.csv', 2))
    expect(paysimTxnId('b.csv', 2)).not.toBe(paysimTxnId('a.csv', 2))
    expect(paysimTxnId('a.csv', 2)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
  })

  it('matches the RFC 9562 construction (the DNS namespace example)', () => {
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    )
  })

  it('hashes with SHA-1 (FIPS 180-4 examples, across block boundaries)', () => {
    const hex = (text: string) =>
      Array.from(sha1(new TextEncoder().encode(text)), (byte) => byte.toString(16).padStart(2, '0')).join('')
    expect(hex('abc')).toBe('a9993e364706816aba3e25717850c26c9cd0d89d')
    expect(hex('')).toBe('da39a3ee5e6b4b0d3255bfef95601890afd80709')
    expect(hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe(
      '84983e441c3bd26ebaae4aa1f95129e5e54670f1',
    )
    expect(hex('a'.repeat(1000))).toBe('291e9a6c66994949b57ba5e650361e98fc36b1ba')
  })
})

describe('isPaysimHeader', () => {
  it('recognizes the PaySim header only', () => {
    expect(isPaysimHeader(PAYSIM_COLUMNS.join(','))).toBe(true)
    expect(isPaysimHeader(`${PAYSIM_COLUMNS.join(',')}\r`)).toBe(true)
    expect(isPaysimHeader('step,type,amount')).toBe(false)
  })
})
