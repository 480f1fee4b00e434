import { appendFile, copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { readFileSync } from 'node:fs'
import { DuckDBInstance } from '@duckdb/node-api'
import { ORPCError } from '@orpc/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { paysimDatasetKey, readPaysimFile } from '../../src/main/pipeline/file-replay'
import { paysimTransactionsSql, paysimTxnId, parsePaysimLine } from '../../src/shared/paysim'
import {
  collect,
  openDatasetsHarness,
  readyDataset,
  SAMPLE_PATH,
  sampleLines,
  type DatasetsHarness,
} from '../support/datasets'

let harness: DatasetsHarness
let scratch: string

beforeAll(async () => {
  harness = await openDatasetsHarness()
  scratch = await mkdtemp(join(tmpdir(), 'aether-datasets-'))
})

afterAll(async () => {
  await harness.dispose()
  await rm(scratch, { recursive: true, force: true })
})

const datasetsDir = () => join(harness.opened.dataDir, 'datasets')
const databaseFiles = async (id: string) =>
  (await readdir(datasetsDir())).filter((file) => file.startsWith(`${id}-`))

/** The bundled sample as a Parquet file at `path`, written by DuckDB. */
async function writeSampleParquet(path: string) {
  const instance = await DuckDBInstance.create(':memory:')
  const connection = await instance.connect()
  await connection.run(`COPY (SELECT * FROM read_csv('${SAMPLE_PATH}')) TO '${path}' (FORMAT parquet)`)
  connection.closeSync()
  instance.closeSync()
}

/** Rows of the grid whose `seq` (the file line) is one of `lines`. */
async function rowsAtLines(datasetId: string, lines: number[]) {
  const page = await harness.client.datasets.rows({
    datasetId,
    source: { kind: 'dataset' },
    startRow: 0,
    endRow: 100,
    filter: {
      seq: {
        filterType: 'number',
        operator: 'OR',
        conditions: lines.map((line) => ({
          filterType: 'number' as const,
          type: 'equals' as const,
          filter: line,
        })),
      },
    },
  })
  return page.rows
}

describe('opening the bundled sample', () => {
  it('imports 19,999 rows and 81 fraud, showing progress and then the quality report', async () => {
    const events = await collect(await harness.client.datasets.openSample())
    expect(events[0]?.type).toBe('started')
    const progress = events.filter((event) => event.type === 'progress')
    expect(progress.length).toBeGreaterThan(0)
    expect(progress.map((event) => event.phase)).toContain('checking')
    const dataset = readyDataset(events)
    expect(dataset).toMatchObject({ kind: 'paysim', rowCount: 19_999, fraudCount: 81, rejectedLines: 0 })

    const report = await harness.client.datasets.quality({ id: dataset.id })
    expect(report.rowCount).toBe(19_999)
    expect(report.paysim?.fraudRows).toBe(81)

    const fraud = await harness.client.datasets.rows({
      datasetId: dataset.id,
      source: { kind: 'dataset' },
      startRow: 0,
      endRow: 100,
      filter: { label: { filterType: 'text', type: 'equals', filter: 'true' } },
      withCount: true,
    })
    expect(fraud.rowCount).toBe(81)
  })

  it('opens the same unchanged file again at once, without an import', async () => {
    const { datasets } = await harness.client.datasets.list()
    const before = datasets.find((dataset) => dataset.sourcePath === SAMPLE_PATH)
    const events = await collect(await harness.client.datasets.openSample())
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ type: 'ready', reused: true })
    expect(readyDataset(events).importedAt).toBe(before?.importedAt)
  })

  it('maps every row to the transaction shape exactly as src/shared/paysim.ts does', async () => {
    const dataset = readyDataset(await collect(await harness.client.datasets.openSample()))
    const [file] = await databaseFiles(dataset.id)
    const instance = await DuckDBInstance.create(join(datasetsDir(), file ?? ''), {
      access_mode: 'READ_ONLY',
    })
    const connection = await instance.connect()
    try {
      const datasetKey = `${basename(SAMPLE_PATH)}:${(await stat(SAMPLE_PATH)).size}`
      await connection.run(
        `CREATE TEMP TABLE raw AS SELECT * FROM read_csv('${SAMPLE_PATH}', header = true, all_varchar = true)`,
      )
      const shared = paysimTransactionsSql({
        relation: '(SELECT *, rowid + 2 AS line FROM temp.raw)',
        datasetKey,
        lineColumn: 'line',
      })
      const ours = `SELECT txn_id, ts, user_id, counterparty_id, CAST(type AS VARCHAR) AS type, amount, currency,
        merchant_type, source_ip, device_id, balance_before, balance_after, cp_balance_before, cp_balance_after,
        label, seq FROM transactions`
      const difference = async (a: string, b: string) =>
        (await connection.runAndReadAll(`SELECT count(*) FROM (${a} EXCEPT ALL ${b})`)).getRows()[0]?.[0]
      expect(await difference(ours, shared)).toBe(0n)
      expect(await difference(shared, ours)).toBe(0n)
    } finally {
      connection.closeSync()
      instance.closeSync()
    }

    const lines = sampleLines()
    const [row] = await rowsAtLines(dataset.id, [4])
    const expected = parsePaysimLine(lines[3] ?? '', {
      datasetKey: `${basename(SAMPLE_PATH)}:1392133`,
      line: 4,
    })
    expect(row?.txn_id).toBe(expected.txn_id)
    expect(row?.txn_id).toBe(paysimTxnId(`${basename(SAMPLE_PATH)}:1392133`, 4))
    expect(row?.amount).toBe(expected.amount)
    expect(row?.user_id).toBe(expected.user_id)
    expect(row?.label).toBe(expected.label)
    expect(Date.parse(String(row?.ts).replace(' ', 'T').replace(/\+00$/, 'Z'))).toBe(Date.parse(expected.ts))
  })
})

describe('files that are not the bundled sample', () => {
  it('reports a broken line with its line number and keeps every good row', async () => {
    const lines = sampleLines()
    // Line 5001 has a word for an amount; line 12001 was cut short.
    lines.splice(5000, 0, '1,PAYMENT,ten dollars,C100,50,40,M200,0,0,0,0')
    lines.splice(12000, 0, '2,CASH_OUT,1200.5,C300')
    const path = join(scratch, 'broken.csv')
    await writeFile(path, lines.join('\n'))

    const dataset = readyDataset(await collect(await harness.client.datasets.open({ path })))
    expect(dataset).toMatchObject({ rowCount: 19_999, fraudCount: 81, rejectedLines: 2 })
    const report = await harness.client.datasets.quality({ id: dataset.id })
    expect(report.rejects.map((reject) => [reject.line, reject.error])).toEqual([
      [5001, 'CAST'],
      [12001, 'MISSING COLUMNS'],
    ])
    expect(report.rejects[0]?.text).toBe('1,PAYMENT,ten dollars,C100,50,40,M200,0,0,0,0')
    expect(report.columns.find((column) => column.name === 'amount')).toMatchObject({
      typeErrors: 1,
      typeErrorLines: [5001],
    })

    // The rows after each broken line keep their own line numbers.
    const rows = await rowsAtLines(dataset.id, [5000, 5002, 12000, 12002])
    const byLine = new Map(rows.map((row) => [row.seq, row]))
    for (const line of [5000, 5002, 12000, 12002]) {
      const text = lines[line - 1] ?? ''
      expect(byLine.get(String(line))?.user_id, `line ${line}`).toBe(text.split(',')[3])
    }
  })

  it('numbers the rows after empty lines by their own lines, with the txn_ids a replay gives them', async () => {
    const lines = sampleLines()
    // Lines 2, 5001, 5002 and 15001 empty; 9001 broken.
    lines.splice(1, 0, '')
    lines.splice(5000, 0, '', '')
    lines.splice(9000, 0, '1,PAYMENT,ten dollars,C100,50,40,M200,0,0,0,0')
    lines.splice(15000, 0, '')
    const plain = join(scratch, 'empty-lines.csv')
    await writeFile(plain, `${lines.join('\n')}\n`)
    const gz = join(scratch, 'empty-lines-crlf.csv.gz')
    await writeFile(gz, gzipSync(`${lines.join('\r\n')}\r\n`))
    const replayed = new Map<number, string>()
    for await (const row of readPaysimFile(plain, await paysimDatasetKey(plain)))
      if ('txn' in row) replayed.set(row.line, row.txn.txn_id)

    const checked = [3, 5000, 5003, 9000, 9002, 15000, 15002, lines.length]
    for (const path of [plain, gz]) {
      const dataset = readyDataset(await collect(await harness.client.datasets.open({ path })))
      expect(dataset).toMatchObject({ rowCount: 19_999, rejectedLines: 1 })
      const report = await harness.client.datasets.quality({ id: dataset.id })
      expect(report.rejects.map((reject) => reject.line)).toEqual([9001])
      const rows = await rowsAtLines(dataset.id, checked)
      const byLine = new Map(rows.map((row) => [Number(row.seq), row]))
      const key = `${basename(path)}:${(await stat(path)).size}`
      for (const line of checked) {
        const row = byLine.get(line)
        expect(row?.user_id, `${basename(path)} line ${line}`).toBe((lines[line - 1] ?? '').split(',')[3])
        expect(row?.txn_id, `${basename(path)} line ${line}`).toBe(paysimTxnId(key, line))
        if (path === plain) expect(row?.txn_id, `replay's line ${line}`).toBe(replayed.get(line))
      }
    }
  })

  it('imports CSV.gz and Parquet to the same 19,999 rows and 81 fraud', async () => {
    const gz = join(scratch, 'sample.csv.gz')
    await writeFile(gz, gzipSync(readFileSync(SAMPLE_PATH)))
    const parquet = join(scratch, 'sample.parquet')
    await writeSampleParquet(parquet)

    for (const path of [gz, parquet]) {
      const dataset = readyDataset(await collect(await harness.client.datasets.open({ path })))
      expect(dataset, path).toMatchObject({ kind: 'paysim', rowCount: 19_999, fraudCount: 81 })
    }
  })

  it('imports any other file as it is, with its columns, types and quality findings', async () => {
    const path = join(scratch, 'merchants.csv')
    await writeFile(
      path,
      [
        'id,merchant,amount,opened',
        '1,Acme,10.5,2026-01-01',
        '2,,20,2026-01-02',
        '2,Beta,7.25,2026-01-03',
      ].join('\n'),
    )
    const dataset = readyDataset(await collect(await harness.client.datasets.open({ path })))
    expect(dataset.kind).toBe('table')
    expect(dataset.columns).toEqual([
      { name: 'id', type: 'BIGINT' },
      { name: 'merchant', type: 'VARCHAR' },
      { name: 'amount', type: 'DOUBLE' },
      { name: 'opened', type: 'DATE' },
    ])
    const report = await harness.client.datasets.quality({ id: dataset.id })
    expect(report.duplicates).toEqual({ key: 'id', extraRows: 1, lines: [3, 4] })
    expect(report.columns.find((column) => column.name === 'merchant')).toMatchObject({
      nulls: 1,
      nullLines: [3],
    })
    expect(report.columns.find((column) => column.name === 'amount')).toMatchObject({
      min: '7.25',
      max: '20.0',
    })
    expect(report.paysim).toBeNull()

    const sorted = await harness.client.datasets.rows({
      datasetId: dataset.id,
      source: { kind: 'dataset' },
      startRow: 0,
      endRow: 10,
      sort: [{ colId: 'amount', sort: 'desc' }],
    })
    expect(sorted.rows.map((row) => row.amount)).toEqual([20, 10.5, 7.25])

    const refused = harness.client.datasets.analysis({ datasetId: dataset.id, analysis: 'fraud-by-type' })
    await expect(refused).rejects.toMatchObject({ code: 'CONFLICT' })
  })

  it('imports a CSV whose quoted fields hold line feeds, each such field in its row, numbered by its line', async () => {
    // The sniffer split it at every line feed, so most "rows" missed a column and the file was refused.
    // Rows start on lines 2, 5, 7, 8 and 11 (the last without a note), not one line after another.
    const path = join(scratch, 'case-notes.csv')
    await writeFile(
      path,
      'case,note\n1,"called the customer\n\nno answer"\n2,"first line\r\nsecond, with a comma"\n3,short\n4,"a\nb\nc"\n5,\n',
    )
    const dataset = readyDataset(await collect(await harness.client.datasets.open({ path })))
    const page = await harness.client.datasets.rows({
      datasetId: dataset.id,
      source: { kind: 'dataset' },
      startRow: 0,
      endRow: 10,
      sort: [{ colId: 'case', sort: 'asc' }],
    })
    expect(page.rows.map((row) => row.note)).toEqual([
      'called the customer\n\nno answer',
      'first line\r\nsecond, with a comma',
      'short',
      'a\nb\nc',
      null,
    ])
    const report = await harness.client.datasets.quality({ id: dataset.id })
    expect(report.columns.find((column) => column.name === 'note')).toMatchObject({
      nulls: 1,
      nullLines: [11],
    })
  })

  it('offers a changed file for re-import, and re-imports it when asked', async () => {
    const path = join(scratch, 'growing.csv')
    await copyFile(SAMPLE_PATH, path)
    const first = readyDataset(await collect(await harness.client.datasets.open({ path })))
    await appendFile(path, '\n9,PAYMENT,100.00,C1,200,100,M1,0,0,0,0')

    const changed = await collect(await harness.client.datasets.open({ path }))
    expect(changed).toHaveLength(1)
    expect(changed[0]).toMatchObject({ type: 'changed', sourceBytes: (await stat(path)).size })
    const listed = (await harness.client.datasets.list()).datasets.find((dataset) => dataset.id === first.id)
    expect(listed?.sourceState).toBe('changed')

    const again = readyDataset(await collect(await harness.client.datasets.open({ path, reimport: true })))
    expect(again).toMatchObject({ id: first.id, rowCount: 20_000, sourceState: 'current' })
    expect(await databaseFiles(first.id)).toHaveLength(1)
  })

  it('removes an imported copy and its files, keeping the file itself', async () => {
    const path = join(scratch, 'to-remove.csv')
    await copyFile(SAMPLE_PATH, path)
    const dataset = readyDataset(await collect(await harness.client.datasets.open({ path })))
    expect(await databaseFiles(dataset.id)).toHaveLength(1)
    const after = await harness.client.datasets.remove({ id: dataset.id })
    expect(after.datasets.map((listed) => listed.id)).not.toContain(dataset.id)
    expect(await databaseFiles(dataset.id)).toEqual([])
    expect((await stat(path)).size).toBe(dataset.sourceBytes)
    await expect(harness.client.datasets.quality({ id: dataset.id })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    })
  })

  it('opens data files by their content, whatever their name', async () => {
    const gz = join(scratch, 'sample-gzipped.dat')
    await writeFile(gz, gzipSync(readFileSync(SAMPLE_PATH)))
    const tsv = join(scratch, 'merchants.txt')
    await writeFile(tsv, 'id\tmerchant\n1\tAcme\n2\tBeta\n')
    const gzDataset = readyDataset(await collect(await harness.client.datasets.open({ path: gz })))
    expect(gzDataset).toMatchObject({ kind: 'paysim', rowCount: 19_999, fraudCount: 81 })
    const tsvDataset = readyDataset(await collect(await harness.client.datasets.open({ path: tsv })))
    expect(tsvDataset).toMatchObject({ kind: 'table', rowCount: 2 })
  })

  it('reads exactly the named file, whatever characters its name holds', async () => {
    // DuckDB reads a path as a glob pattern: `[1]` matched `1`, `?` any character, `*` anything.
    const lines = sampleLines()
    const header = lines[0] as string
    const rows = (count: number, from: number) =>
      `${[header, ...lines.slice(from, from + count)].join('\n')}\n`
    const folder = await mkdtemp(join(scratch, 'globs-'))
    await writeFile(join(folder, 'paysim 1.csv'), rows(10, 1))
    await writeFile(join(folder, 'paysim [1].csv'), rows(50, 11))
    await writeFile(join(folder, 'qa.csv'), rows(20, 61))
    await writeFile(join(folder, 'q?.csv'), rows(30, 81))
    await writeFile(join(folder, 'star*{x,y}.csv'), rows(40, 111))
    for (const [name, count] of [
      ['paysim [1].csv', 50],
      ['q?.csv', 30],
      ['star*{x,y}.csv', 40],
    ] as const) {
      const dataset = readyDataset(
        await collect(await harness.client.datasets.open({ path: join(folder, name) })),
      )
      expect(dataset, name).toMatchObject({ kind: 'paysim', rowCount: count })
    }
  })

  it('reads only the file, never its folders’ names as columns', async () => {
    // DuckDB reads `key=value` folders as columns (hive partitioning): every row became fraud here.
    const folder = join(await mkdtemp(join(scratch, 'hive-')), 'isFraud=1', 'step=9')
    await mkdir(folder, { recursive: true })
    const csv = join(folder, 'sample.csv')
    await copyFile(SAMPLE_PATH, csv)
    const parquet = join(folder, 'sample.parquet')
    await writeSampleParquet(parquet)
    for (const path of [csv, parquet]) {
      const dataset = readyDataset(await collect(await harness.client.datasets.open({ path })))
      expect(dataset, basename(path)).toMatchObject({ kind: 'paysim', rowCount: 19_999, fraudCount: 81 })
    }
  })

  it('refuses a file that is not a data file, saying why, and imports nothing', async () => {
    const binary = join(scratch, 'program.csv')
    await writeFile(binary, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00]))
    const passwd = join(scratch, 'passwd')
    await writeFile(
      passwd,
      'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n',
    )
    const empty = join(scratch, 'empty.csv')
    await writeFile(empty, '')
    // 50,000 columns: DuckDB ran out of its memory reading it, with an error naming none of this.
    const wide = join(scratch, 'wide.csv')
    const names = Array.from({ length: 50_000 }, (_, i) => `c${i}`).join(',')
    await writeFile(wide, `${names}\n${names}\n`)
    const prose = join(scratch, 'notes.csv')
    await writeFile(
      prose,
      'Meeting notes, Monday\nWe talked about the quarter and nothing else\nThe end, for now, of it all\n',
    )
    const before = (await harness.client.datasets.list()).datasets.length
    for (const [path, why] of [
      [binary, /binary/],
      [passwd, /no comma, tab, semicolon or pipe/],
      [empty, /empty/],
      [wide, /header has more than [\d,]+ comma-separated columns; Datasets opens tables of up to 2,000/],
      [prose, /columns/],
    ] as const) {
      const refused = collect(await harness.client.datasets.open({ path }))
      await expect(refused, path).rejects.toSatisfy(
        (error: unknown) =>
          error instanceof ORPCError && error.code === 'CONFLICT' && why.test(error.message),
      )
    }
    expect((await harness.client.datasets.list()).datasets.length).toBe(before)
  })

  it('names a line too long to be a row, and survives a gzip file of empty lines, importing nothing', async () => {
    // A 5 MB line: DuckDB stopped with "Line: 1" and the whole line in its message.
    const [header, ...body] = sampleLines()
    const long = join(scratch, 'long-line.csv')
    await writeFile(
      long,
      `${[header, ...body.slice(0, 99), `1,PAYMENT,${'9'.repeat(5_000_000)},C1,0,0,M1,0,0,0,0`, ...body.slice(99, 200)].join('\n')}\n`,
    )
    // 300 MB of line feeds in 300 kB: reading the head of it for the header took them all into one string
    // and the process died (V8's "invalid size error").
    const bomb = join(scratch, 'empty-lines.csv.gz')
    await writeFile(
      bomb,
      gzipSync(Buffer.concat([Buffer.from(`${header}\n`), Buffer.alloc(300 << 20, 0x0a)])),
    )
    const before = (await harness.client.datasets.list()).datasets.length
    for (const [path, why] of [
      [long, /^Line 101 is 5,000,028 bytes long, longer than a row of a table can be \(2,000,000 bytes\)/],
      [bomb, /more than 5,000,000 empty lines/],
    ] as const) {
      const events = await collect(await harness.client.datasets.open({ path }))
      const last = events.at(-1) as { type: string; message?: string }
      expect(last.type, path).toBe('failed')
      expect(last.message, path).toMatch(why)
      expect(last.message?.length ?? 0).toBeLessThan(500)
    }
    expect((await harness.client.datasets.list()).datasets.length).toBe(before)
  })

  it('says which file is missing', async () => {
    const missing = harness.client.datasets.open({ path: join(scratch, 'nowhere.csv') })
    await expect(collect(await missing)).rejects.toSatisfy(
      (error: unknown) =>
        error instanceof ORPCError && error.code === 'NOT_FOUND' && /nowhere\.csv/.test(error.message),
    )
  })
})

describe('cancelling an import', () => {
  let bigFile: string

  beforeAll(async () => {
    // 25 copies of the sample: large enough that the import is still running when it is cancelled.
    const [header, ...body] = sampleLines()
    const block = `${body.join('\n')}\n`
    bigFile = join(scratch, 'large.csv')
    await writeFile(bigFile, `${header}\n`)
    for (let copy = 0; copy < 25; copy++) await appendFile(bigFile, block)
  })

  it('stops on Cancel and leaves nothing behind', async () => {
    const events = []
    for await (const event of await harness.client.datasets.open({ path: bigFile })) {
      events.push(event)
      if (event.type === 'progress' && events.filter((seen) => seen.type === 'progress').length === 1) {
        const started = events[0]
        if (started?.type !== 'started') throw new Error('no started event')
        expect(await harness.client.datasets.cancelImport({ importId: started.importId })).toEqual({
          cancelled: true,
        })
      }
    }
    expect(events.at(-1)).toEqual({ type: 'cancelled' })
    const started = events[0]
    if (started?.type !== 'started') throw new Error('no started event')
    expect((await harness.client.datasets.list()).datasets.map((dataset) => dataset.id)).not.toContain(
      started.datasetId,
    )
    expect(await databaseFiles(started.datasetId)).toEqual([])
  })

  it('stops when the analyst leaves the stream', async () => {
    let datasetId = ''
    for await (const event of await harness.client.datasets.open({ path: bigFile })) {
      if (event.type === 'started') {
        datasetId = event.datasetId
        break
      }
    }
    expect(datasetId).not.toBe('')
    expect((await harness.client.datasets.list()).datasets.map((dataset) => dataset.id)).not.toContain(
      datasetId,
    )
    expect(await databaseFiles(datasetId)).toEqual([])
  })
})
