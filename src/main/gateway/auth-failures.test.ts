import { describe, expect, it } from 'vitest'
import { AuthFailures } from './auth-failures'

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
