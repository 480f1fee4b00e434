import { StatementType, type DuckDBConnection } from '@duckdb/node-api'
import type { ColumnInfo, SqlAnswer } from '../../shared/datasets-contract'
import { asNumber, CONSOLE_MEMORY_LIMIT, describe, readOne, toCell } from './duck'

/**
 * The analyst's SQL, run on the console's locked-down instance (duck.ts openLockedDown). A query pages
 * through the grid as a subquery, so sort and filter apply to its result; any other statement (EXPLAIN, ...)
 * shows its first rows.
 */

const ROWS_SHOWN = 1000

export class ConsoleStatementError extends Error {
  constructor(
    message: string,
    readonly line: number | null,
    readonly column: number | null,
  ) {
    super(message)
    this.name = 'ConsoleStatementError'
  }
}

/**
 * Where DuckDB points in the statement. Its messages end with the line and a caret under the error:
 * "LINE 3:   amount +  from paysim\n                    ^"; a long line is shown cut, starting with "...".
 * `lineOffset` takes away lines we put before the analyst's statement.
 */
export function errorPosition(
  message: string,
  sql: string,
  lineOffset = 0,
): { line: number | null; column: number | null } {
  const match = /\nLINE (\d+): (.*)\n( *)\^/.exec(message)
  if (!match) return { line: null, column: null }
  const line = Number(match[1]) - lineOffset
  const snippet = match[2] ?? ''
  const caret = (match[3] ?? '').length - `LINE ${match[1]}: `.length
  if (line < 1) return { line: null, column: null }
  if (!snippet.startsWith('...')) return { line, column: caret + 1 }
  const shown = snippet.slice(3).replace(/\.\.\.$/, '')
  const at = (sql.split('\n')[line - 1] ?? '').indexOf(shown)
  return { line, column: at < 0 ? null : at + caret - 3 + 1 }
}

/** DuckDB's message without the position part, which the console shows its own way. */
const withoutPosition = (message: string) => message.split('\n\nLINE ')[0]?.trim() ?? message

/**
 * DuckDB's "Out of Memory" error suggests `SET memory_limit` and `SET threads`, which the console's
 * locked configuration refuses: the analyst is told what they can do instead.
 */
const outOfMemory = (message: string) =>
  /^Out of Memory Error/i.test(message)
    ? `The query needs more than the console's ${CONSOLE_MEMORY_LIMIT} of memory. Narrow it: filter rows, aggregate before listing, or add a LIMIT.`
    : message

export function consoleError(error: unknown, sql: string, lineOffset = 0): ConsoleStatementError {
  const message = error instanceof Error ? error.message : String(error)
  const { line, column } = errorPosition(message, sql, lineOffset)
  return new ConsoleStatementError(outOfMemory(withoutPosition(message)), line, column)
}

/** `'…'` (with `''`), `E'…'` (with backslash escapes too) and `"…"`: where the quote at `start` ends. */
function quotedEnd(sql: string, start: number): number {
  const quote = sql[start]
  const backslashes = quote === "'" && /[eE]/.test(sql[start - 1] ?? '') && !/\w/.test(sql[start - 2] ?? '')
  let i = start + 1
  while (i < sql.length) {
    const c = sql[i]
    if (backslashes && c === '\\') i += 2
    else if (c === quote && sql[i + 1] === quote) i += 2
    else if (c === quote) return i + 1
    else i++
  }
  return sql.length
}

/**
 * The statement without what follows its last token: semicolons, whitespace and comments. A trailing
 * semicolon would end the subquery early. One pass that knows quotes, dollar quotes and (nested) block
 * comments, so a `;` or `--` inside a string stays, and no text makes it slow (a regular expression
 * over an analyst's text could backtrack for minutes on the main process).
 */
export function withoutTrailingSemicolon(sql: string): string {
  let end = 0
  let i = 0
  while (i < sql.length) {
    const c = sql[i] as string
    const next = sql[i + 1]
    if (c === '-' && next === '-') {
      const newline = sql.indexOf('\n', i)
      i = newline < 0 ? sql.length : newline
    } else if (c === '/' && next === '*') {
      let depth = 1
      i += 2
      while (i < sql.length && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++
          i += 2
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--
          i += 2
        } else i++
      }
    } else if (c === ';' || c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') i++
    else if (c === "'" || c === '"') end = i = quotedEnd(sql, i)
    else {
      const tag = c === '$' ? /^\$(?:[A-Za-z_][A-Za-z_0-9]{0,62})?\$/.exec(sql.slice(i, i + 65)) : null
      if (tag === null) end = i = i + 1
      else {
        const close = sql.indexOf(tag[0], i + tag[0].length)
        end = i = close < 0 ? sql.length : close + tag[0].length
      }
    }
  }
  return sql.slice(0, end)
}

/** The analyst's query as a relation; it starts on the second line, so positions shift by one line. */
export const consoleRelation = (sql: string) => `(\n${withoutTrailingSemicolon(sql)}\n) AS console_query`
const RELATION_LINE_OFFSET = 1

/**
 * The columns of a console query that the grid pages through. It must be one query (SELECT, FROM, WITH,
 * DESCRIBE, ...), checked here too since the grid's calls carry the SQL again.
 */
export async function consoleColumns(connection: DuckDBConnection, sql: string): Promise<ColumnInfo[]> {
  const statements = await connection.extractStatements(sql)
  if (statements.count !== 1 || (await statements.prepare(0)).statementType !== StatementType.SELECT)
    throw new ConsoleStatementError('The grid shows the result of one query.', null, null)
  return describe(connection, consoleRelation(sql))
}

export async function runConsoleStatement(connection: DuckDBConnection, sql: string): Promise<SqlAnswer> {
  const started = performance.now()
  const millis = () => Math.round(performance.now() - started)
  let statementType: StatementType
  try {
    const statements = await connection.extractStatements(sql)
    if (statements.count !== 1)
      return {
        outcome: 'error',
        message: `Run one statement at a time (this text has ${statements.count}).`,
        line: null,
        column: null,
      }
    statementType = (await statements.prepare(0)).statementType
  } catch (error) {
    const { message, line, column } = consoleError(error, sql)
    return { outcome: 'error', message, line, column }
  }
  try {
    if (statementType === StatementType.SELECT) {
      const relation = consoleRelation(sql)
      const columns = await describe(connection, relation)
      const { n } = await readOne(connection, `SELECT count(*) AS n FROM ${relation}`)
      return { outcome: 'query', columns, rowCount: asNumber(n), millis: millis() }
    }
    const reader = await connection.runAndReadUntil(sql, ROWS_SHOWN + 1)
    const types = reader.columnTypes()
    const columns = reader
      .columnNames()
      .map((name, index) => ({ name, type: types[index]?.toString() ?? '' }))
    const rows = reader
      .getRowObjectsJson()
      .slice(0, ROWS_SHOWN)
      .map((row) => Object.fromEntries(Object.entries(row).map(([name, value]) => [name, toCell(value)])))
    return {
      outcome: 'rows',
      columns,
      rows,
      truncated: reader.currentRowCount > ROWS_SHOWN,
      millis: millis(),
    }
  } catch (error) {
    const { message, line, column } = consoleError(
      error,
      sql,
      statementType === StatementType.SELECT ? RELATION_LINE_OFFSET : 0,
    )
    return { outcome: 'error', message, line, column }
  }
}
