import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FileReplaySource } from './file-replay'
import type { PipelineStore } from './sink'

const HEADER =
  'step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud'
const row = (step: number, user: string) => `${step},PAYMENT,10.00,${user},100,90,M1,0,0,0,0`

const dirs: string[] = []
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

async function sample(lines: string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'aether-replay-'))
  dirs.push(dir)
  const path = join(dir, 'sample.csv')
  await writeFile(path, [HEADER, ...lines].join('\n') + '\n')
  return path
}

/** Only the place in the file is asked of the store here. */
const store = (position: string | null) =>
  ({ takeOver: async () => ({ epoch: 1, position }), release: async () => {} }) as unknown as PipelineStore

const HOUR = 3_600_000

/** The entry's fields as sent on the wire (name, value, name, value…). */
function decodeTransaction(fields: readonly string[]) {
  const record: Record<string, string> = {}
  for (let i = 0; i < fields.length; i += 2) record[fields[i] as string] = fields[i + 1] as string
  return { user_id: record.user_id, ts: record.ts }
}

describe('the live sample replay', () => {
  it('places each step in its hour from now, its rows spread in file order, and sends a row only when due', async () => {
    // Step 1: four rows (a user twice), step 2: two rows.
    const path = await sample([
      row(1, 'C1'),
      row(1, 'C2'),
      row(1, 'C1'),
      row(1, 'C3'),
      row(2, 'C1'),
      row(2, 'C4'),
    ])
    let now = Date.parse('2026-12-06T10:00:00Z')
    const source = new FileReplaySource({ path, tps: 1000, live: { now: () => now } })
    await source.start()
    await source.rebalance(store(null))
    const times = async () =>
      (await source.read(100)).entries.map((entry) => {
        const txn = decodeTransaction(entry.fields)
        return `${txn.user_id} ${txn.ts}`
      })
    expect(await times()).toEqual(['C1 2026-12-06T10:00:00.000Z'])
    now += 15 * 60_000
    expect(await times()).toEqual(['C2 2026-12-06T10:15:00.000Z'])
    now += HOUR
    expect(await times()).toEqual([
      'C1 2026-12-06T10:30:00.000Z',
      'C3 2026-12-06T10:45:00.000Z',
      'C1 2026-12-06T11:00:00.000Z',
    ])
    now += HOUR
    expect(await times()).toEqual(['C4 2026-12-06T11:30:00.000Z'])
    await source.stop(store(null))
  })

  it('after a restart carries on at the next line, due at once and later than every row before it', async () => {
    const path = await sample([row(1, 'C1'), row(1, 'C2'), row(2, 'C3'), row(2, 'C4')])
    const now = Date.parse('2026-12-07T08:00:00Z')
    const source = new FileReplaySource({ path, tps: 1000, live: { now: () => now } })
    await source.start()
    // Lines 2 and 3 were stored before: line 4 (step 2's first row) is next.
    await source.rebalance(store('3'))
    const batch = await source.read(100)
    expect(batch.entries.map((entry) => [entry.id, decodeTransaction(entry.fields).ts])).toEqual([
      ['4', '2026-12-07T08:00:00.000Z'],
    ])
    await source.stop(store(null))
  })

  it('on a first start with history sends the first hour at once, then waits for the next row’s time', async () => {
    const path = await sample([row(1, 'C1'), row(1, 'C2'), row(2, 'C3')])
    const now = Date.parse('2026-12-06T10:00:00Z')
    const source = new FileReplaySource({ path, tps: 1000, live: { now: () => now, historyMs: HOUR } })
    await source.start()
    await source.rebalance(store(null))
    const batch = await source.read(100)
    expect(batch.entries.map((entry) => decodeTransaction(entry.fields).ts)).toEqual([
      '2026-12-06T09:00:00.000Z',
      '2026-12-06T09:30:00.000Z',
      '2026-12-06T10:00:00.000Z',
    ])
    await source.stop(store(null))
  })

  it('keeps PaySim’s own time without live', async () => {
    const path = await sample([row(3, 'C1')])
    const source = new FileReplaySource({ path, tps: 1000 })
    await source.start()
    await source.rebalance(store(null))
    const batch = await source.read(100)
    expect(decodeTransaction(batch.entries[0]?.fields ?? []).ts).toBe('2026-01-01T02:00:00.000Z')
    await source.stop(store(null))
  })
})
