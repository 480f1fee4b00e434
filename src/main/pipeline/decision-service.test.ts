import { describe, expect, it } from 'vitest'
import type { Transaction } from '../../shared/transaction'
import { versionsApart } from './decision-service'
import { RowRejectedError, type StoredVersion } from './sink'

/** A store whose reads fail as PostgreSQL's do when one of the values is one it cannot take. */
function store(refuses: Set<string>, stored: Map<string, StoredVersion>) {
  const reads: string[][] = []
  return {
    reads,
    storedVersions: async (txns: readonly Transaction[]) => {
      reads.push(txns.map((txn) => txn.txn_id))
      const bad = txns.find((txn) => refuses.has(txn.txn_id))
      if (bad !== undefined)
        throw new RowRejectedError(`the store refused it: invalid input (${bad.txn_id})`, new Error('22P02'))
      const versions = new Map<number, StoredVersion>()
      txns.forEach((txn, index) => {
        const version = stored.get(txn.txn_id)
        if (version !== undefined) versions.set(index, version)
      })
      return versions
    },
  }
}

const item = (id: string) => ({ txn: { txn_id: id } as Transaction })

describe('stored versions read for many requests at once', () => {
  it('are one read when the store takes them all', async () => {
    const fake = store(new Set(), new Map([['b', { differs: [], stored: {} }]]))
    const versions = await versionsApart(fake, [item('a'), item('b')], () => {})
    expect([...versions.keys()]).toEqual([1])
    expect(fake.reads).toEqual([['a', 'b']])
  })

  it('refuse only the one the store refuses, and answer the others', async () => {
    const fake = store(new Set(['b']), new Map([['c', { differs: ['amount'], stored: {} }]]))
    const refused: string[] = []
    const versions = await versionsApart(fake, [item('a'), item('b'), item('c')], (one, error) =>
      refused.push(`${one.txn.txn_id}: ${error.message}`),
    )
    expect(refused).toEqual(['b: the store refused it: invalid input (b)'])
    expect([...versions]).toEqual([[2, { differs: ['amount'], stored: {} }]])
    expect(fake.reads).toEqual([['a', 'b', 'c'], ['a'], ['b'], ['c']])
  })

  it('fail whole for anything else (the store down is not one request’s fault)', async () => {
    const down = {
      storedVersions: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
      },
    }
    await expect(versionsApart(down, [item('a'), item('b')], () => {})).rejects.toThrow(/ECONNREFUSED/)
  })
})
