import { describe, expect, it } from 'vitest'
import { centsToMoney, formatCents, toCents } from './money'

describe('money in cents', () => {
  it('reads 2-decimal strings exactly', () => {
    expect(['0.01', '0.1', '181', '181.00', '9839.64', '10000000.00', '0.29', '1.15'].map(toCents)).toEqual([
      1, 10, 18_100, 18_100, 983_964, 1_000_000_000, 29, 115,
    ])
  })

  it('round-trips every cent value it writes', () => {
    for (let cents = 0; cents < 100_000; cents += 7) expect(toCents(centsToMoney(cents))).toBe(cents)
    expect(centsToMoney(5)).toBe('0.05')
    expect(centsToMoney(-1234)).toBe('-12.34')
  })

  it('formats for people with thousands separators', () => {
    expect(formatCents(123_456_789)).toBe('1,234,567.89')
    expect(formatCents(100)).toBe('1.00')
    expect(formatCents(-100_000_00)).toBe('-100,000.00')
  })
})
