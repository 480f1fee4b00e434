import { describe, expect, it } from 'vitest'
import { DEFAULT_RULES } from '../../shared/rules'
import { emptyUserState, MEMORY, type UserState } from './features'
import { GENERATOR_BLOCKLIST, generateTransactions } from './generator'
import { createListMatcher } from './lists'
import { scoreTransaction } from './score'
import { packedStatesJson, packUserState, StoredStateError, unpackUserState } from './state-codec'

/** Each user's state after `count` generated transactions, scored as the pipeline scores them. */
function generatedStates(count: number, users: number): Map<string, UserState> {
  const lists = createListMatcher([...GENERATOR_BLOCKLIST])
  const states = new Map<string, UserState>()
  for (const { txn } of generateTransactions({ seed: 11, users }, count)) {
    let state = states.get(txn.user_id)
    if (state === undefined) states.set(txn.user_id, (state = emptyUserState()))
    scoreTransaction(txn, state, DEFAULT_RULES, lists)
  }
  return states
}

/** Through the store and back: JSON, as user_features.state holds it. */
const stored = (state: UserState) => unpackUserState(JSON.parse(JSON.stringify(packUserState(state))))

describe('the stored form of a user state', () => {
  it('gives back every user state exactly, in at most 60% of the bytes', () => {
    // Ten transactions a user, as in bench:ingest (200,000 over 20,000 users).
    const states = generatedStates(40_000, 4_000)
    let plain = 0
    let packed = 0
    for (const state of states.values()) {
      expect(stored(state)).toEqual(state)
      plain += JSON.stringify(state).length
      packed += JSON.stringify(packUserState(state)).length
    }
    expect(packed).toBeLessThan(plain * 0.6)
    // A batch's states as the pipeline writes them: one object, user id → stored form.
    const document = JSON.parse(packedStatesJson(states)) as Record<string, unknown>
    expect(Object.keys(document)).toHaveLength(states.size)
    for (const [user, state] of states) expect(unpackUserState(document[user])).toEqual(state)
  })

  it('keeps absent devices and IPs, runs of one value and a full memory as they were', () => {
    const state = emptyUserState()
    state.n = MEMORY.recentValues + 3
    state.lastMs = 1_767_323_232_551
    state.mean = 615.3585714285714
    state.m2 = 2_726_100.2908857143
    state.recentMs = [1_767_239_199_599, 1_767_323_232_551, 1_767_323_232_551]
    state.recentCents = [7709, 70_693, 1]
    for (let k = 0; k < MEMORY.recentValues; k++) {
      state.counterparties.push(`C${k % 7}`)
      state.devices.push(k % 50 < 3 ? null : `dev-${Math.floor(k / 100)}`)
      state.ips.push(k === 17 ? '2001:db8::1' : '198.51.100.112')
    }
    expect(stored(state)).toEqual(state)
    expect(stored(emptyUserState())).toEqual(emptyUserState())
  })

  it('still reads states stored in the earlier form (version 1)', () => {
    const [state] = generatedStates(2_000, 100).values()
    expect(unpackUserState(JSON.parse(JSON.stringify(state)))).toEqual(state)
  })

  it('refuses what is neither form, naming what is wrong', () => {
    const good = JSON.parse(JSON.stringify(packUserState(emptyUserState()))) as Record<string, unknown>
    expect(() => unpackUserState(null)).toThrow(StoredStateError)
    expect(() => unpackUserState({ v: 3 })).toThrow(/version 3/)
    expect(() => unpackUserState({ ...good, t: 'soon' })).toThrow(/n, t, m or q/)
    expect(() => unpackUserState({ ...good, r: [1], c: [] })).toThrow(/differ in length/)
    expect(() => unpackUserState({ ...good, d: ['dev-1'] })).toThrow(/d is not runs/)
    expect(() => unpackUserState({ ...good, i: ['1.2.3.4', 0] })).toThrow(/a value and a count/)
    expect(() => unpackUserState({ ...good, p: [7] })).toThrow(/p is not strings/)
  })
})
