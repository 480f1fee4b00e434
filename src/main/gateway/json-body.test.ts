import { describe, expect, it } from 'vitest'
import { nestsDeeperThan } from './json-body'

describe('nestsDeeperThan', () => {
  it('counts arrays and objects inside each other, not brackets inside strings', () => {
    expect(nestsDeeperThan('{"transactions":[{"txn_id":"a"}]}', 3)).toBe(false)
    expect(nestsDeeperThan('{"transactions":[{"txn_id":{}}]}', 3)).toBe(true)
    expect(nestsDeeperThan('{"note":"[[[[{{{{"}', 1)).toBe(false)
    expect(nestsDeeperThan('{"note":"a\\"[[[[","x":[[1]]}', 2)).toBe(true)
    expect(nestsDeeperThan('{"note":"a\\\\","x":[[1]]}', 3)).toBe(false)
    expect(nestsDeeperThan('[]'.repeat(1000), 1)).toBe(false)
  })

  it('stops at the first level too deep of a million', () => {
    const body = `{"transactions":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`
    expect(nestsDeeperThan(body, 16)).toBe(true)
    expect(nestsDeeperThan(body, 2_000_000)).toBe(false)
  })
})
