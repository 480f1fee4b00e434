import { describe, expect, it } from 'vitest'
import { NewAlertIds } from './live'

describe('which notified alert ids the live feed reads', () => {
  it('ignores ids stored before it began listening, made-up words, and ids shown already', () => {
    const fresh = new NewAlertIds(100)
    expect(fresh.candidates('99,100,101,abc,{"txnId":"x"},-5,1e400,102,101')).toEqual([101, 102])
    expect(fresh.claim(101)).toBe(true)
    expect(fresh.claim(101)).toBe(false)
    expect(fresh.candidates('101,102')).toEqual([102])
  })

  it('forgets the oldest ids it showed by raising the floor past them, so none shows twice', () => {
    const fresh = new NewAlertIds(0, 2)
    for (const id of [1, 2, 3]) expect(fresh.claim(id)).toBe(true)
    expect(fresh.candidates('1,2,3,4')).toEqual([4])
    expect(fresh.claim(1)).toBe(false)
  })

  it('passes an alert with a lower id that commits after listening began, not one stored before', () => {
    // Stored when listening began: 98, 99 and 101; 100 was taken by a batch still committing.
    const fresh = new NewAlertIds(90, 20, [98, 99, 101])
    expect(fresh.candidates('98,99,100,101,102')).toEqual([100, 102])
  })

  it('remembers at most its bound of stored ids, the oldest below the floor', () => {
    const fresh = new NewAlertIds(0, 2, [1, 2, 3])
    expect(fresh.candidates('1,2,3,4')).toEqual([4])
  })
})
