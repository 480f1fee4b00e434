import { describe, expect, it } from 'vitest'
import { consoleRelation, errorPosition } from './sql-console'

describe('where DuckDB points in a statement', () => {
  it('reads the line and the caret', () => {
    const message =
      'Parser Error: syntax error at or near "from"\n\nLINE 3:   amount +  from paysim\n                    ^'
    expect(errorPosition(message, 'select\n  step,\n  amount +  from paysim')).toEqual({
      line: 3,
      column: 13,
    })
  })

  it('finds the column of a long line that DuckDB shows cut', () => {
    const sql = `select ${Array.from({ length: 30 }, (_, i) => `c${i}`).join(', ')}, nope, c30 from t`
    const message = `Binder Error: Referenced column "nope" not found\n\nLINE 1: ...c25, c26, c27, c28, c29, nope, c30 from t\n${' '.repeat('LINE 1: ...c25, c26, c27, c28, c29, '.length)}^`
    expect(errorPosition(message, sql)).toEqual({ line: 1, column: sql.indexOf('nope') + 1 })
  })

  it('takes away the lines put before the statement', () => {
    const message = "Conversion Error: Could not convert\n\nLINE 2: select 'a'::int\n               ^"
    expect(errorPosition(message, "select 'a'::int", 1)).toEqual({ line: 1, column: 8 })
  })

  it('says nothing when DuckDB gives no position', () => {
    expect(errorPosition('Permission Error: Cannot access file', 'select 1')).toEqual({
      line: null,
      column: null,
    })
  })
})

describe('a console query as a relation', () => {
  it('drops a final semicolon and keeps a final comment from closing the subquery', () => {
    expect(consoleRelation('select 1; -- done')).toBe('(\nselect 1\n) AS console_query')
    expect(consoleRelation('select 1 -- done')).toBe('(\nselect 1 -- done\n) AS console_query')
  })
})
