import { describe, expect, it } from 'vitest'
import type { Params } from './duck'
import { GridColumns, orderClause, UnknownColumnError, whereClause } from './grid-sql'

const columns = new GridColumns([
  { name: 'type', type: 'VARCHAR' },
  { name: 'amount', type: 'DECIMAL(18,2)' },
  { name: 'odd "name"', type: 'VARCHAR' },
])

describe('AG Grid filters as SQL', () => {
  it('passes values as parameters and matches text literally, ignoring case', () => {
    const params: Params = []
    const where = whereClause(
      { type: { filterType: 'text', type: 'contains', filter: '50%_off\\' } },
      columns,
      params,
    )
    expect(where).toBe(`WHERE CAST("type" AS VARCHAR) ILIKE ? ESCAPE '\\'`)
    expect(params).toEqual(['%50\\%\\_off\\\\%'])
  })

  it('joins conditions of a column and columns with AND/OR as asked', () => {
    const params: Params = []
    const where = whereClause(
      {
        amount: {
          filterType: 'number',
          operator: 'OR',
          conditions: [
            { filterType: 'number', type: 'lessThan', filter: 10 },
            { filterType: 'number', type: 'inRange', filter: 100, filterTo: 200 },
          ],
        },
        type: { filterType: 'text', type: 'notEqual', filter: 'PAYMENT' },
      },
      columns,
      params,
    )
    expect(where).toBe(
      `WHERE ("amount" < ? OR ("amount" > ? AND "amount" < ?)) AND ("type" IS NULL OR CAST("type" AS VARCHAR) NOT ILIKE ? ESCAPE '\\')`,
    )
    expect(params).toEqual([10, 100, 200, 'PAYMENT'])
  })

  it('quotes a column name that needs it, and refuses one the relation does not have', () => {
    expect(whereClause({ 'odd "name"': { filterType: 'text', type: 'blank' } }, columns, [])).toBe(
      `WHERE ("odd ""name""" IS NULL OR CAST("odd ""name""" AS VARCHAR) = '')`,
    )
    expect(() =>
      whereClause({ 'type; drop table x': { filterType: 'text', type: 'blank' } }, columns, []),
    ).toThrow(UnknownColumnError)
  })
})

describe('AG Grid sort as SQL', () => {
  it('keeps file order when unsorted, and breaks ties by the line when sorted', () => {
    expect(orderClause([], columns, 'seq')).toBe('')
    expect(orderClause([{ colId: 'amount', sort: 'desc' }], columns, 'seq')).toBe(
      'ORDER BY "amount" DESC NULLS LAST, "seq"',
    )
    expect(() => orderClause([{ colId: 'nope', sort: 'asc' }], columns, 'seq')).toThrow(UnknownColumnError)
  })
})

describe('text filters on a column of few known values', () => {
  const typed = new GridColumns([
    { name: 'type', type: "ENUM('PAYMENT', 'TRANSFER', 'CASH_OUT', 'CASH_IN', 'DEBIT')" },
    { name: 'label', type: 'BOOLEAN' },
  ])

  it('compares the stored values that match, as AG Grid would match them', () => {
    const params: Params = []
    expect(
      whereClause(
        {
          type: { filterType: 'text', type: 'startsWith', filter: 'cash' },
          label: { filterType: 'text', type: 'equals', filter: 'TRUE' },
        },
        typed,
        params,
      ),
    ).toBe('WHERE enum_code("type") IN (2, 3) AND "label" IN (?)')
    // An ENUM by its codes (positions in its declaration, written as integers), a BOOLEAN by its values.
    expect(params).toEqual(['true'])
  })

  it('matches nothing when no value fits, and keeps NULL for "not equal"', () => {
    expect(whereClause({ type: { filterType: 'text', type: 'equals', filter: 'REFUND' } }, typed, [])).toBe(
      'WHERE false',
    )
    const params: Params = []
    expect(
      whereClause({ type: { filterType: 'text', type: 'notEqual', filter: 'payment' } }, typed, params),
    ).toBe('WHERE ("type" IS NULL OR NOT enum_code("type") IN (0))')
    expect(params).toEqual([])
  })
})
