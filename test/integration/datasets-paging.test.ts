import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DatasetsService } from '../../src/main/analysis/datasets-service'
import type { FilterModel, RowsPage, SortItem } from '../../src/shared/datasets-contract'
import { SAMPLE_PATH } from './datasets-support'

/**
 * A sorted grid page deep in a dataset is read after the previous page's last row, not by OFFSET. Paged
 * through from the top, every page must hold exactly the rows OFFSET gives: ties, NULLs (last in either
 * direction), booleans, timestamps, several sort columns, a filter, an ENUM (PaySim's type, sorted by its
 * declared order, not alphabetically) and the hidden line number that breaks ties in a plain table.
 * One service reads every page after the first from the previous one's end; the other only by OFFSET.
 */

let folder: string
let byOffset: DatasetsService
let byKeyset: DatasetsService
const ids = { table: ['', ''], paysim: ['', ''] }

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

async function open(service: DatasetsService, path: string): Promise<string> {
  for await (const event of service.open({ path })) {
    if (event.type === 'ready') return event.dataset.id
    if (event.type === 'failed') throw new Error(event.message)
  }
  throw new Error('The open did not end ready')
}

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'aether-paging-'))
  const csv = join(folder, 'awkward.csv')
  await writeFile(csv, awkwardCsv())
  byOffset = new DatasetsService({ dir: join(folder, 'offset'), samplePath: null, keysetFrom: Infinity })
  byKeyset = new DatasetsService({ dir: join(folder, 'keyset'), samplePath: null, keysetFrom: 1 })
  ids.table = [await open(byOffset, csv), await open(byKeyset, csv)]
  ids.paysim = [await open(byOffset, SAMPLE_PATH), await open(byKeyset, SAMPLE_PATH)]
})

afterAll(async () => {
  await byOffset?.close()
  await byKeyset?.close()
  await rm(folder, { recursive: true, force: true })
})

/** Every page of the ordering, in turn, as the grid asks for them while scrolled down. */
async function pages(
  service: DatasetsService,
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

describe('sorted pages read after the previous page', () => {
  it.each(TABLE_ORDERS)('give what OFFSET gives in a table: %s', async (_label, sort, filter) => {
    const expected = await pages(byOffset, ids.table[0] as string, sort, filter, 7)
    const actual = await pages(byKeyset, ids.table[1] as string, sort, filter, 7)
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
    const actual = await pages(byKeyset, ids.paysim[1] as string, sort, {}, 1000)
    expect(actual.flat().map((row) => row.seq)).toEqual(expected.flat().map((row) => row.seq))
    expect(actual).toEqual(expected)
    expect(new Set(expected.flat().map((row) => row.seq)).size).toBe(19_999)
  })
})
