import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatasetsService } from '../../src/main/analysis/datasets-service'
import { GridPages } from '../../src/main/analysis/grid-pages'
import type { InstancePool } from '../../src/main/analysis/instance-pool'
import type { FilterModel, RowsPage, RowsRequest, SortItem } from '../../src/shared/datasets-contract'
import { importTwice, SAMPLE_PATH } from '../support/datasets'

/**
 * A sorted grid page deep in a dataset is read after the previous page's last row, not by OFFSET. Paged
 * through from the top, every page must hold exactly the rows OFFSET gives: ties, NULLs (last in either
 * direction), booleans, timestamps, several sort columns, a filter, an ENUM (PaySim's type, sorted by its
 * declared order, not alphabetically) and the hidden line number that breaks ties in a plain table.
 * One grid reads every page after the first from the previous one's end; the other only by OFFSET.
 */

let folder: string
let byOffset: DatasetsService
/** The grid's pages over the datasets imported into the keyset folder, and the instances it reads. */
let byKeyset: GridPages
let keysetInstances: InstancePool
const ids = { table: ['', ''], paysim: ['', ''], parquet: ['', ''] }

/** 300 rows with NULLs and ties in every column but id. */
function awkwardCsv(): string {
  const lines = ['id,name,amount,flag,at,kind']
  for (let i = 1; i <= 300; i++) {
    const name = i % 7 === 0 ? '' : `n${i % 13}`
    const amount = i % 5 === 0 ? '' : String(((i * 37) % 50) / 4)
    const flag = i % 11 === 0 ? '' : String(i % 3 === 0)
    const at = i % 17 === 0 ? '' : `2026-01-0${1 + (i % 5)} 10:00:0${i % 2}`
    lines.push(`${i},${name},${amount},${flag},${at},${['x', 'y', 'z'][i % 3]}`)
  }
  return `${lines.join('\n')}\n`
}

/**
 * A Parquet file with the values a page's last row must be bound back as exactly: whole DOUBLEs beyond
 * BIGINT, lists of DOUBLE starting with a whole number, empty lists and lists starting with NULL.
 */
async function typedParquet(path: string): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:')
  const connection = await instance.connect()
  try {
    await connection.run(`COPY (
      SELECT i AS id,
        CAST(CASE WHEN i % 6 = 0 THEN NULL ELSE (i % 9) * 1e20 END AS DOUBLE) AS ratio,
        CASE WHEN i % 7 = 0 THEN CAST([] AS DOUBLE[]) WHEN i % 5 = 0 THEN [NULL, i % 3 + 0.5]
          ELSE [CAST(i % 4 AS DOUBLE), i % 3 + 0.5] END AS tags
      FROM range(1, 241) AS r(i)) TO '${path}' (FORMAT parquet)`)
  } finally {
    connection.closeSync()
    instance.closeSync()
  }
}

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'aether-paging-'))
  const csv = join(folder, 'awkward.csv')
  await writeFile(csv, awkwardCsv())
  const parquet = join(folder, 'typed.parquet')
  await typedParquet(parquet)
  const imported = await importTwice(folder, 'keyset', { table: csv, paysim: SAMPLE_PATH, parquet })
  byOffset = imported.byOffset
  // The grid's own parts over the imported files, so the test can read what DuckDB ran for each page.
  keysetInstances = imported.instances
  Object.assign(ids, imported.ids)
  byKeyset = new GridPages(keysetInstances, { keysetFrom: 1, sortedOrders: false })
})

afterAll(async () => {
  await byOffset?.close()
  await keysetInstances?.closeAll()
  await rm(folder, { recursive: true, force: true })
})

/** Every page of the ordering, in turn, as the grid asks for them while scrolled down. */
async function pages(
  service: { rows(request: RowsRequest): Promise<RowsPage> },
  datasetId: string,
  sort: SortItem[],
  filter: FilterModel,
  size: number,
): Promise<RowsPage['rows'][]> {
  const all: RowsPage['rows'][] = []
  for (let startRow = 0; ; startRow += size) {
    const { rows } = await service.rows({
      datasetId,
      source: { kind: 'dataset' },
      startRow,
      endRow: startRow + size,
      sort,
      filter,
    })
    all.push(rows)
    if (rows.length < size) return all
  }
}

const TABLE_ORDERS: [string, SortItem[], FilterModel][] = [
  ['amount ↓', [{ colId: 'amount', sort: 'desc' }], {}],
  ['amount ↑', [{ colId: 'amount', sort: 'asc' }], {}],
  [
    'name ↑ then amount ↓',
    [
      { colId: 'name', sort: 'asc' },
      { colId: 'amount', sort: 'desc' },
    ],
    {},
  ],
  [
    'flag ↓ then time ↑',
    [
      { colId: 'flag', sort: 'desc' },
      { colId: 'at', sort: 'asc' },
    ],
    {},
  ],
  [
    'time ↓ where kind is x',
    [{ colId: 'at', sort: 'desc' }],
    { kind: { filterType: 'text', type: 'equals', filter: 'x' } },
  ],
]

/** The SQL of each page the keyset grid ran on a dataset, as DuckDB logged it. */
async function watchPages(datasetId: string) {
  const { instance } = await keysetInstances.dataset(datasetId)
  const log = await instance.connect()
  await log.run("CALL enable_logging('QueryLog')")
  await log.run('CALL truncate_duckdb_logs()')
  /** Stops watching; gives the SQL of each page read meanwhile, in order. */
  return {
    stop: async () => {
      const logged = await log.runAndReadAll(
        "SELECT message FROM duckdb_logs WHERE type = 'QueryLog' ORDER BY timestamp",
      )
      await log.run('CALL disable_logging()')
      log.closeSync()
      return logged
        .getRowObjectsJson()
        .map((row) => String(row.message))
        .filter((sql) => / LIMIT \d+/.test(sql) && !sql.includes('duckdb_logs'))
    },
  }
}

/** Every page but the first ran without OFFSET: the test is about that path, not a fallback to OFFSET. */
function expectReadOnFromEachEnd(sql: string[]) {
  expect(sql.length).toBeGreaterThan(2)
  expect(sql[0]).toMatch(/OFFSET 0/)
  for (const later of sql.slice(1)) expect(later).not.toMatch(/OFFSET/)
}

describe('sorted pages read after the previous page', () => {
  it.each(TABLE_ORDERS)('give what OFFSET gives in a table: %s', async (_label, sort, filter) => {
    const expected = await pages(byOffset, ids.table[0] as string, sort, filter, 7)
    const watched = await watchPages(ids.table[1] as string)
    const actual = await pages(byKeyset, ids.table[1] as string, sort, filter, 7)
    expectReadOnFromEachEnd(await watched.stop())
    expect(actual).toEqual(expected)
    const shown = expected.flat()
    expect(shown.length).toBe(Object.keys(filter).length === 0 ? 300 : 100)
    expect(new Set(shown.map((row) => row.id)).size).toBe(shown.length)
    // The hidden line number is not shown.
    expect(shown[0]).not.toHaveProperty('__line')
  })

  it.each([
    [
      'type ↑ (declared order) then amount ↓',
      [
        { colId: 'type', sort: 'asc' },
        { colId: 'amount', sort: 'desc' },
      ],
    ],
    ['time ↓', [{ colId: 'ts', sort: 'desc' }]],
    ['user ↑', [{ colId: 'user_id', sort: 'asc' }]],
  ] as [string, SortItem[]][])('give what OFFSET gives in PaySim: %s', async (_label, sort) => {
    const expected = await pages(byOffset, ids.paysim[0] as string, sort, {}, 1000)
    const watched = await watchPages(ids.paysim[1] as string)
    const actual = await pages(byKeyset, ids.paysim[1] as string, sort, {}, 1000)
    expectReadOnFromEachEnd(await watched.stop())
    expect(actual.flat().map((row) => row.seq)).toEqual(expected.flat().map((row) => row.seq))
    expect(actual).toEqual(expected)
    expect(new Set(expected.flat().map((row) => row.seq)).size).toBe(19_999)
  })

  it.each([
    ['whole DOUBLEs beyond BIGINT ↓', [{ colId: 'ratio', sort: 'desc' }]],
    ['lists of DOUBLE ↑ (empty, NULL first)', [{ colId: 'tags', sort: 'asc' }]],
    [
      'lists ↓ then DOUBLE ↑',
      [
        { colId: 'tags', sort: 'desc' },
        { colId: 'ratio', sort: 'asc' },
      ],
    ],
  ] as [string, SortItem[]][])('give what OFFSET gives in Parquet: %s', async (_label, sort) => {
    const expected = await pages(byOffset, ids.parquet[0] as string, sort, {}, 9)
    const watched = await watchPages(ids.parquet[1] as string)
    const actual = await pages(byKeyset, ids.parquet[1] as string, sort, {}, 9)
    expectReadOnFromEachEnd(await watched.stop())
    expect(actual).toEqual(expected)
    expect(new Set(expected.flat().map((row) => row.id)).size).toBe(240)
  })
})
