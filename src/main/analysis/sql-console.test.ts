import { describe, expect, it } from 'vitest'
import { consoleError, consoleRelation, errorPosition, withoutTrailingSemicolon } from './sql-console'

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
    expect(consoleRelation('select 1 -- done')).toBe('(\nselect 1\n) AS console_query')
    expect(consoleRelation('select 1;; /* a */ ; \n -- b\n')).toBe('(\nselect 1\n) AS console_query')
  })

  it('keeps a semicolon or a comment marker inside a string, an identifier or a dollar quote', () => {
    for (const sql of [
      "select 'x;--y' as a",
      "select 'it''s;' as a",
      "select E'a\\';' as a",
      'select 1 as "a;--b"',
      'select $$;--$$ as a',
      'select $t$ ; $$ $t$ as a',
      'select 1 /* ; /* nested ; */ ; */ + 2',
    ])
      expect(withoutTrailingSemicolon(`${sql}; -- done`)).toBe(sql)
  })

  it('takes linear time on text a regular expression would backtrack on for minutes', () => {
    // `;` then thousands of `-`: each could start a comment or not (the earlier pattern's 2^n ways).
    const sql = `select ';${'-'.repeat(20_000)}'\nas a;${' --'.repeat(20_000)}`
    expect(withoutTrailingSemicolon(sql)).toBe(`select ';${'-'.repeat(20_000)}'\nas a`)
  })
})

describe('a console statement over its memory', () => {
  it('says what the analyst can do, not the settings the console refuses', () => {
    const error = consoleError(
      new Error(
        "Out of Memory Error: failed to allocate data of size 16.0 MiB (946.2 MiB/953.6 MiB used)\n\nPossible solutions:\n* Increasing the memory limit (SET memory_limit='...GB')",
      ),
      'SELECT 1',
    )
    expect(error.message).toMatch(/more than the console's 1GB of memory/)
    expect(error.message).not.toMatch(/SET/)
  })
})
