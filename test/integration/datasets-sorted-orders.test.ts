import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatasetsService } from '../../src/main/analysis/datasets-service'
import { GridPages } from '../../src/main/analysis/grid-pages'
import type { InstancePool } from '../../src/main/analysis/instance-pool'
import type { FilterModel, RowsRequest, SortItem } from '../../src/shared/datasets-contract'
import { importTwice, SAMPLE_PATH } from '../support/datasets'

/**
 * A sorted page anywhere (a scrollbar dragged a long way) is read by its position in the sort's order,
 * built after the first page. Jumped to, every page must hold exactly the rows, in the order, that
 * ORDER BY … OFFSET gives: in sort keys with many ties (broken by the line), NULLs, a filter, PaySim's
 * view (txn_id included), and a file with lines set aside (its line numbers are stored, not positions).
 */

let folder: string
/** The reference: every page by ORDER BY … OFFSET. */
let byOffset: DatasetsService
/** The grid's own parts over the same files imported again, so the test can read what DuckDB ran. */
let byPosition: GridPages
let positionInstances: InstancePool
const ids = { ties: ['', ''], paysim: ['', ''], broken: ['', ''] }

/** 3,000 rows whose sort keys tie in runs of hundreds, with NULLs among them. */
function tiedCsv(): string {
  const lines = ['id,name,amount,flag']
  for (let i = 1; i <= 3000; i++) {
    const amount = i % 9 === 0 ? '' : String((i * 7) % 6)
    lines.push(`${i},${i % 13 === 0 ? '' : `n${i % 4}`},${amount},${i % 5 === 0}`)
  }
  return `${lines.join('\n')}\n`
}

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'aether-orders-'))
  const ties = join(folder, 'ties.csv')
  await writeFile(ties, tiedCsv())
  // The sample with two lines DuckDB sets aside: every row after them is numbered by its stored line.
  const lines = readFileSync(SAMPLE_PATH, 'utf8').trimEnd().split('\n')
  lines.splice(5000, 0, '1,PAYMENT,ten dollars,C100,50,40,M200,0,0,0,0')
  lines.splice(12000, 0, '2,CASH_OUT,1200.5,C300')
  const broken = join(folder, 'broken.csv')
  await writeFile(broken, `${lines.join('\n')}\n`)

  const imported = await importTwice(folder, 'position', { ties, paysim: SAMPLE_PATH, broken })
  byOffset = imported.byOffset
  positionInstances = imported.instances
  Object.assign(ids, imported.ids)
  byPosition = new GridPages(positionInstances)
})

afterAll(async () => {
  await byOffset?.close()
  await positionInstances?.closeAll()
  await rm(folder, { recursive: true, force: true })
})

const request = (
  datasetId: string,
  sort: SortItem[],
  filter: FilterModel,
  startRow: number,
  size: number,
): RowsRequest => ({
  datasetId,
  source: { kind: 'dataset' },
  startRow,
  endRow: startRow + size,
  sort,
  filter,
  withCount: true,
})

/** The SQL DuckDB ran for the pages read meanwhile. */
async function watchPages(datasetId: string) {
  const { instance } = await positionInstances.dataset(datasetId)
  const log = await instance.connect()
  await log.run("CALL enable_logging('QueryLog')")
  await log.run('CALL truncate_duckdb_logs()')
  return async () => {
    const logged = await log.runAndReadAll(
      "SELECT message FROM duckdb_logs WHERE type = 'QueryLog' ORDER BY timestamp",
    )
    await log.run('CALL disable_logging()')
    log.closeSync()
    return logged.getRowObjectsJson().map((row) => String(row.message))
  }
}

/** Orders held now in a dataset's instance. */
async function ordersHeld(datasetId: string): Promise<number> {
  const { instance } = await positionInstances.dataset(datasetId)
  const connection = await instance.connect()
  try {
    const reader = await connection.runAndReadAll(
      "SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = 'grid_orders'",
    )
    return Number(reader.getRowObjectsJson()[0]?.n)
  } finally {
    connection.closeSync()
  }
}

/**
 * Serves the first page, waits for the order built after it, then jumps to each start (back and forth,
 * as a dragged scrollbar does): each page as OFFSET gives it, and read by position, not by OFFSET.
 */
async function expectJumpsAsOffset(
  ids: string[],
  sort: SortItem[],
  filter: FilterModel,
  starts: number[],
  size: number,
) {
  const [offsetId, positionId] = ids as [string, string]
  const first = await byPosition.rows(request(positionId, sort, filter, 0, size))
  expect(first.rows).toEqual((await byOffset.rows(request(offsetId, sort, filter, 0, size))).rows)
  expect(await byPosition.sortedOrderBuilt(request(positionId, sort, filter, 0, size))).toBe(true)
  const stop = await watchPages(positionId)
  for (const startRow of starts) {
    const expected = await byOffset.rows(request(offsetId, sort, filter, startRow, size))
    const actual = await byPosition.rows(request(positionId, sort, filter, startRow, size))
    expect(actual.rows).toEqual(expected.rows)
    expect(actual.rowCount).toBe(expected.rowCount)
  }
  const pages = (await stop()).filter((sql) => sql.includes('SELECT') && !sql.includes('duckdb_logs'))
  expect(pages.length).toBe(starts.length)
  for (const sql of pages) {
    expect(sql).toContain('grid_orders.order_')
    expect(sql).not.toMatch(/OFFSET/)
  }
}

describe('sorted pages jumped to by position', () => {
  it.each([
    ['amount ↓ (ties in runs of ~450, NULLs last)', [{ colId: 'amount', sort: 'desc' }], {}],
    ['amount ↑ (NULLs last)', [{ colId: 'amount', sort: 'asc' }], {}],
    [
      'name ↓ then flag ↑',
      [
        { colId: 'name', sort: 'desc' },
        { colId: 'flag', sort: 'asc' },
      ],
      {},
    ],
    [
      'amount ↓ where flag is true',
      [{ colId: 'amount', sort: 'desc' }],
      { flag: { filterType: 'text', type: 'equals', filter: 'true' } },
    ],
  ] as [string, SortItem[], FilterModel][])(
    'give what OFFSET gives in a table of ties: %s',
    async (_label, sort, filter) => {
      await expectJumpsAsOffset(ids.ties, sort, filter, [2500, 400, 1999, 13, 2950, 10_000], 37)
    },
  )

  it('give what OFFSET gives in PaySim, txn_id included: type ↑ then step ↓', async () => {
    const sort: SortItem[] = [
      { colId: 'type', sort: 'asc' },
      { colId: 'step', sort: 'desc' },
    ]
    await expectJumpsAsOffset(ids.paysim, sort, {}, [15_000, 700, 19_950], 100)
  })

  it('give what OFFSET gives where lines were set aside (lines stored), filtered: step ↑', async () => {
    const filter: FilterModel = { type: { filterType: 'text', type: 'equals', filter: 'CASH_OUT' } }
    await expectJumpsAsOffset(ids.broken, [{ colId: 'step', sort: 'asc' }], filter, [5000, 60, 3000], 50)
  })

  it('holds one order of a dataset: another sort, or none, frees it', async () => {
    const [, positionId] = ids.ties as [string, string]
    const amount: SortItem[] = [{ colId: 'amount', sort: 'desc' }]
    await byPosition.rows(request(positionId, amount, {}, 0, 10))
    expect(await byPosition.sortedOrderBuilt(request(positionId, amount, {}, 0, 10))).toBe(true)
    expect(await ordersHeld(positionId)).toBe(1)
    const name: SortItem[] = [{ colId: 'name', sort: 'asc' }]
    await byPosition.rows(request(positionId, name, {}, 0, 10))
    expect(await byPosition.sortedOrderBuilt(request(positionId, name, {}, 0, 10))).toBe(true)
    expect(await ordersHeld(positionId)).toBe(1)
    await byPosition.rows(request(positionId, [], {}, 0, 10))
    await expect.poll(() => ordersHeld(positionId)).toBe(0)
  })
})
