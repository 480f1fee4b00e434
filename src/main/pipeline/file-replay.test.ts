import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  checkReplayFile,
  countDataLines,
  FileReplaySource,
  readPaysimFile,
  type PaysimRow,
} from './file-replay'
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

describe('a file to replay, as the command reads it', () => {
  const write = async (name: string, content: string | Buffer) => {
    const dir = await mkdtemp(join(tmpdir(), 'aether-replay-'))
    dirs.push(dir)
    const path = join(dir, name)
    await writeFile(path, content)
    return path
  }
  const rows = async (path: string) => {
    const read: PaysimRow[] = []
    for await (const one of readPaysimFile(path, 'k')) read.push(one)
    return read
  }

  it('counts the rows whatever ends its lines: LF, CRLF or a CR alone', async () => {
    for (const end of ['\n', '\r\n', '\r']) {
      for (const last of [end, '']) {
        const path = await write(
          'lines.csv',
          [HEADER, row(1, 'C1'), row(2, 'C2'), row(3, 'C3')].join(end) + last,
        )
        expect(await countDataLines(path), JSON.stringify({ end, last })).toBe(3)
        expect((await rows(path)).length).toBe(3)
      }
    }
  })

  it('reports a row whose bytes are not UTF-8 with its line, and sends the others', async () => {
    const path = await write(
      'garbled.csv',
      Buffer.concat([
        Buffer.from(`${HEADER}\n${row(1, 'C1')}\n1,PAYMENT,10.00,C`),
        Buffer.from([0xff, 0xfe]),
        Buffer.from(`9,100,90,M1,0,0,0,0\n${row(2, 'C2')}\n`),
      ]),
    )
    const read = await rows(path)
    expect(read.map((one) => ('error' in one ? one.error : one.txn.user_id))).toEqual([
      'C1',
      'line 3: holds bytes that are not UTF-8 text',
      'C2',
    ])
  })

  it('refuses an empty file, a folder and a pipe, saying why', async () => {
    const empty = await write('empty.csv', '')
    await expect(rows(empty)).rejects.toThrow(/is empty: a PaySim CSV starts with its header/)
    const folder = await mkdtemp(join(tmpdir(), 'aether-replay-'))
    dirs.push(folder)
    await expect(checkReplayFile(folder)).rejects.toThrow(/is a folder, not a PaySim CSV/)
    const fifo = join(folder, 'pipe.csv')
    execFileSync('mkfifo', [fifo])
    await expect(checkReplayFile(fifo)).rejects.toThrow(/is not a regular file \(a pipe/)
    await expect(checkReplayFile(join(folder, 'none.csv'))).rejects.toThrow(/There is no file/)
    await expect(checkReplayFile(empty)).resolves.toBeUndefined()
  })
})

describe('a PaySim file compressed with gzip', () => {
  const rows = async (path: string) => {
    const read: PaysimRow[] = []
    for await (const item of readPaysimFile(path, 'key')) read.push(item)
    return read
  }

  it('is read, counted and replayed as the same rows as the plain file', async () => {
    const long = `1,PAYMENT,${'x'.repeat(100_000)},C9,0,0,M1,0,0,0,0`
    const plain = await sample([row(1, 'C1'), long, row(2, 'C2')])
    const gzipped = `${plain}.gz`
    execFileSync('sh', ['-c', `gzip -c "${plain}" > "${gzipped}"`])
    expect(await countDataLines(gzipped)).toBe(3)
    expect(await rows(gzipped)).toEqual(await rows(plain))
    // A megabyte value is named by its start and length, not echoed whole.
    const refused = (await rows(gzipped)).find((item) => 'error' in item)
    expect(refused).toEqual({
      line: 3,
      error: `line 3: amount must be a decimal greater than 0, got "${'x'.repeat(40)}…" (100,000 characters)`,
    })
  })

  it('cut short, fails saying so, for the count and for the rows', async () => {
    const plain = await sample(Array.from({ length: 20_000 }, (_, i) => row(1 + (i % 5), `C${i}`)))
    const cut = `${plain}.gz`
    execFileSync('sh', ['-c', `gzip -c "${plain}" | head -c 20000 > "${cut}"`])
    await expect(countDataLines(cut)).rejects.toThrow(/could not be decompressed .*cut short or damaged/)
    await expect(rows(cut)).rejects.toThrow(/could not be decompressed .*cut short or damaged/)
  })
})
