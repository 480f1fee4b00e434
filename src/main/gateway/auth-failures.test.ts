import { describe, expect, it } from 'vitest'
import { addressKey, AuthFailures } from './auth-failures'

describe('AuthFailures', () => {
  it('blocks an address from its max-th failure until its window ends, then forgets it', () => {
    let now = 1_000
    const failures = new AuthFailures(3, 60_000, 100, () => now)
    expect([failures.fail('a'), failures.fail('a')]).toEqual([false, false])
    expect(failures.blockedFor('a')).toBe(0)
    expect(failures.fail('a')).toBe(true)
    now += 10_000
    expect(failures.blockedFor('a')).toBe(50_000)
    expect(failures.blockedFor('b')).toBe(0)
    // Further failures neither extend the window nor log again.
    expect(failures.fail('a')).toBe(false)
    now += 50_000
    expect(failures.blockedFor('a')).toBe(0)
    expect(failures.addresses).toBe(0)
    expect(failures.fail('a')).toBe(false)
  })

  it('follows at most its bound of addresses, forgetting the oldest windows first', () => {
    let now = 0
    const failures = new AuthFailures(1, 60_000, 10, () => now)
    for (let i = 0; i < 25; i++) {
      now += 1
      failures.fail(`10.0.0.${i}`)
    }
    expect(failures.addresses).toBeLessThanOrEqual(10)
    expect(failures.blockedFor('10.0.0.24')).toBeGreaterThan(0)
    expect(failures.blockedFor('10.0.0.0')).toBe(0)
  })
})

describe('addressKey', () => {
  it('counts an IPv4 address as itself and an IPv6 address by its /64, however written', () => {
    expect(addressKey('10.0.0.1')).toBe('10.0.0.1')
    expect(addressKey('::ffff:10.0.0.1')).toBe('10.0.0.1')
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:0DB8:1:2::9')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:db8:1:3::9')).toBe('2001:db8:1:3::/64')
    expect(addressKey('::1')).toBe('0:0:0:0::/64')
  })

  it('takes back an attempt that was a valid key', () => {
    const failures = new AuthFailures(2, 60_000, 10, () => 0)
    failures.fail('a')
    failures.succeeded('a')
    failures.fail('a')
    expect(failures.blockedFor('a')).toBe(0)
    expect(failures.fail('a')).toBe(true)
    expect(failures.blockedFor('a')).toBeGreaterThan(0)
  })
})
