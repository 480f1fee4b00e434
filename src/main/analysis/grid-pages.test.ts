import { describe, expect, it } from 'vitest'
import type { RowsRequest } from '../../shared/datasets-contract'
import { GridColumns, type PageEnd } from './grid-sql'
import { PageEnds, pageQuery, type PageSource } from './grid-pages'

const table: PageSource = {
  relation: 'source_lines',
  columns: new GridColumns([
    { name: 'id', type: 'BIGINT' },
    { name: 'amount', type: 'DOUBLE' },
  ]),
  select: '"id", "amount"',
  tieBreaker: '__line',
  datasetKey: null,
}

const request = (change: Partial<RowsRequest> = {}): RowsRequest => ({
  datasetId: 'd1',
  source: { kind: 'dataset' },
  startRow: 100,
  endRow: 150,
  sort: [{ colId: 'amount', sort: 'desc' }],
  filter: {},
  ...change,
})

const end = (amount: number, line: number): PageEnd => ({
  values: [amount, line],
  types: [undefined, undefined],
})

describe('the SQL of a grid page', () => {
  it('reads by OFFSET when no previous page ended where this one starts', () => {
    const query = pageQuery(request(), table, undefined)
    expect(query.sql).toBe(
      'SELECT "id", "amount", "__line" FROM source_lines  ORDER BY "amount" DESC NULLS LAST, "__line" LIMIT 50 OFFSET 100',
    )
    expect(query.params).toEqual([])
  })

  it('reads on from the previous page’s last row, without OFFSET, with its values as parameters', () => {
    const query = pageQuery(
      request({ filter: { amount: { filterType: 'number', type: 'greaterThan', filter: 5 } } }),
      table,
      end(12.5, 77),
    )
    expect(query.sql).not.toMatch(/OFFSET/)
    expect(query.sql).toMatch(/LIMIT 50$/)
    // The filter comes first, then the rows after the end: amount below 12.5, or equal and a later line.
    expect(query.params).toEqual([5, 12.5, 12.5, 77, 77])
    expect(query.sql).toContain('WHERE ("amount" > ?) AND (("amount" IS NULL OR "amount" < ?')
    // The count is of every row the filter keeps, not of the rows after the end.
    expect(query.countSql).toBe('SELECT count(*) AS n FROM source_lines WHERE "amount" > ?')
    expect(query.countParams).toEqual([5])
  })

  it('reads the hidden tie breaker with the page, to remember its last row, and says so', () => {
    expect(pageQuery(request(), table, undefined)).toMatchObject({
      hiddenTie: '__line',
      keys: [
        { colId: 'amount', sort: 'desc' },
        { colId: '__line', sort: 'asc' },
      ],
    })
    // Unsorted, no page end is kept: nothing hidden to read, and OFFSET even with an end given.
    const unsorted = pageQuery(request({ sort: [] }), table, end(1, 1))
    expect(unsorted).toMatchObject({ hiddenTie: null, keys: [] })
    expect(unsorted.sql).toMatch(/LIMIT 50 OFFSET 100$/)
  })

  it('reads the rows at the page’s positions in the sort’s order, where built, in the sort’s order', () => {
    const ordered = { pageRows: (start: number, end: number) => `(positions ${start} to ${end})` }
    const filter = { amount: { filterType: 'number' as const, type: 'greaterThan' as const, filter: 5 } }
    const query = pageQuery(request({ filter }), table, end(12.5, 77), ordered)
    // The filter is in the order already; the page end is not needed.
    expect(query.sql).toBe(
      'SELECT "id", "amount", "__line" FROM (positions 100 to 150)  ORDER BY "amount" DESC NULLS LAST, "__line" ',
    )
    expect(query.params).toEqual([])
    expect(query.countParams).toEqual([5])
  })

  it('reads a console query by OFFSET: it has no tie breaker', () => {
    const console: PageSource = { ...table, relation: '(SELECT 1)', select: '*', tieBreaker: null }
    const query = pageQuery(request(), console, end(1, 1))
    expect(query.sql).toBe('SELECT * FROM (SELECT 1)  ORDER BY "amount" DESC NULLS LAST LIMIT 50 OFFSET 100')
    expect(query.hiddenTie).toBeNull()
  })
})

describe('the ends of sorted pages', () => {
  it('are found by the same ordering, database file and row only', () => {
    const ends = new PageEnds()
    ends.remember(request(), 'file-1', 150, end(3, 9))
    expect(ends.get(request(), 'file-1', 150)).toEqual(end(3, 9))
    expect(ends.get(request(), 'file-1', 100)).toBeUndefined()
    // A re-import of the file (same id, new database file) is never read on from.
    expect(ends.get(request(), 'file-2', 150)).toBeUndefined()
    expect(ends.get(request({ sort: [{ colId: 'amount', sort: 'asc' }] }), 'file-1', 150)).toBeUndefined()
    const filtered = request({ filter: { id: { filterType: 'number', type: 'equals', filter: 1 } } })
    expect(ends.get(filtered, 'file-1', 150)).toBeUndefined()
    expect(ends.get(request({ source: { kind: 'console', sql: 'FROM t' } }), 'file-1', 150)).toBeUndefined()
    expect(ends.get(request({ datasetId: 'd2' }), 'file-1', 150)).toBeUndefined()
  })

  it('forget a dataset’s ends only, whatever their ordering', () => {
    const ends = new PageEnds()
    ends.remember(request(), 'f', 150, end(1, 1))
    ends.remember(request({ sort: [{ colId: 'id', sort: 'asc' }] }), 'f', 150, end(2, 2))
    ends.remember(request({ datasetId: 'd10' }), 'f', 150, end(3, 3))
    ends.forget('d1')
    expect(ends.get(request(), 'f', 150)).toBeUndefined()
    expect(ends.get(request({ sort: [{ colId: 'id', sort: 'asc' }] }), 'f', 150)).toBeUndefined()
    // d10 starts with d1 but is another dataset.
    expect(ends.get(request({ datasetId: 'd10' }), 'f', 150)).toEqual(end(3, 3))
  })

  it('keep the most recently remembered, forgetting the oldest first', () => {
    const ends = new PageEnds(3)
    for (const row of [50, 100, 150]) ends.remember(request(), 'f', row, end(row, row))
    // Remembered again, 50 is the newest: 100 is now the oldest and goes first.
    ends.remember(request(), 'f', 50, end(51, 51))
    ends.remember(request(), 'f', 200, end(200, 200))
    expect(ends.get(request(), 'f', 100)).toBeUndefined()
    expect(ends.get(request(), 'f', 50)).toEqual(end(51, 51))
    expect(ends.get(request(), 'f', 150)).toEqual(end(150, 150))
    expect(ends.get(request(), 'f', 200)).toEqual(end(200, 200))
  })
})
