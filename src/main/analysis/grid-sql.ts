import type {
  ColumnFilter,
  ColumnInfo,
  FilterCondition,
  FilterModel,
  SortItem,
} from '../../shared/datasets-contract'
import type { DuckDBType, DuckDBValue } from '@duckdb/node-api'
import { Refusal } from '../errors'
import { quoteIdentifier, type Params } from './duck'

/**
 * AG Grid's sort and filter models as DuckDB SQL. Column names are used only after they are found among
 * the relation's own columns; every value is a parameter.
 */

export class UnknownColumnError extends Refusal {
  constructor(readonly column: string) {
    super('NOT_FOUND', `There is no column "${column}" here.`)
    this.name = 'UnknownColumnError'
  }
}

export class GridColumns {
  private readonly byName: Map<string, ColumnInfo>

  constructor(readonly columns: readonly ColumnInfo[]) {
    this.byName = new Map(columns.map((column) => [column.name, column]))
  }

  has(name: string): boolean {
    return this.byName.has(name)
  }

  /** The quoted identifier of a known column; anything else is refused. */
  identifier(name: string): string {
    if (!this.byName.has(name)) throw new UnknownColumnError(name)
    return quoteIdentifier(name)
  }

  /** Every value a column can hold, for an ENUM or a BOOLEAN column; undefined for any other. */
  members(name: string): Members | undefined {
    const type = this.byName.get(name)?.type ?? ''
    if (type === 'BOOLEAN') return { values: ['true', 'false'], enumerated: false }
    const list = /^ENUM\((.*)\)$/.exec(type)?.[1]
    return list === undefined
      ? undefined
      : {
          values: [...list.matchAll(/'((?:[^']|'')*)'/g)].map((match) =>
            (match[1] ?? '').replaceAll("''", "'"),
          ),
          enumerated: true,
        }
  }
}

/**
 * The values of a column of few known values; `enumerated` when they are an ENUM's, in its order, so a
 * value's position is its enum_code.
 */
interface Members {
  values: string[]
  enumerated: boolean
}

/** A text filter's value as an ILIKE pattern that matches it literally. */
const likeLiteral = (text: string) => text.replace(/[\\%_]/g, (character) => `\\${character}`)

type TextCondition = Extract<FilterCondition, { filterType: 'text' }>

/** AG Grid's text filter on one value, ignoring case as AG Grid does. */
function textMatches(type: TextCondition['type'], value: string, wanted: string): boolean {
  const text = value.toLowerCase()
  const search = wanted.toLowerCase()
  if (type === 'equals' || type === 'notEqual') return text === search
  if (type === 'startsWith') return text.startsWith(search)
  if (type === 'endsWith') return text.endsWith(search)
  return text.includes(search)
}

function textCondition(
  column: string,
  condition: TextCondition,
  params: Params,
  members: Members | undefined,
): string {
  const text = `CAST(${column} AS VARCHAR)`
  if (condition.type === 'blank') return `(${column} IS NULL OR ${text} = '')`
  if (condition.type === 'notBlank') return `(${column} IS NOT NULL AND ${text} <> '')`
  const negated = condition.type === 'notEqual' || condition.type === 'notContains'
  if (members !== undefined) {
    // A column of few known values (PaySim's types, a fraud label): the matching values are found here,
    // and the column is compared with them as it is stored, without turning millions of values into text
    // (an ENUM compared with text is cast to text, row by row; its codes are small integers).
    // The codes are our own integers, written as such: a bound JS number would be a DOUBLE.
    const matching = members.values.flatMap((member, code) =>
      textMatches(condition.type, member, condition.filter ?? '') ? [members.enumerated ? code : member] : [],
    )
    const compared = members.enumerated ? `enum_code(${column})` : column
    const values = members.enumerated ? matching.map(String) : matching.map(() => '?')
    if (!members.enumerated) params.push(...matching)
    const list = matching.length === 0 ? 'false' : `${compared} IN (${values.join(', ')})`
    return negated ? `(${column} IS NULL OR NOT ${list})` : list
  }
  const value = likeLiteral(condition.filter ?? '')
  const patterns: Record<string, string> = {
    equals: value,
    notEqual: value,
    contains: `%${value}%`,
    notContains: `%${value}%`,
    startsWith: `${value}%`,
    endsWith: `%${value}`,
  }
  params.push(patterns[condition.type] ?? value)
  // AG Grid's text filter ignores case; NULL counts as "not equal" and "does not contain", as in AG Grid.
  return negated ? `(${column} IS NULL OR ${text} NOT ILIKE ? ESCAPE '\\')` : `${text} ILIKE ? ESCAPE '\\'`
}

const COMPARISONS: Record<string, string> = {
  equals: '=',
  notEqual: '<>',
  greaterThan: '>',
  greaterThanOrEqual: '>=',
  lessThan: '<',
  lessThanOrEqual: '<=',
}

function rangeCondition(
  expression: string,
  type: string,
  from: number | string | null | undefined,
  to: number | string | null | undefined,
  params: Params,
  cast: string,
): string {
  if (type === 'blank') return `${expression} IS NULL`
  if (type === 'notBlank') return `${expression} IS NOT NULL`
  if (from === null || from === undefined) return 'true'
  if (type === 'inRange') {
    if (to === null || to === undefined) return 'true'
    params.push(from, to)
    // AG Grid's inRange leaves out both ends unless told otherwise.
    return `(${expression} > ${cast} AND ${expression} < ${cast})`
  }
  const operator = COMPARISONS[type]
  if (operator === undefined) return 'true'
  params.push(from)
  const comparison = `${expression} ${operator} ${cast}`
  return type === 'notEqual' ? `(${expression} IS NULL OR ${comparison})` : comparison
}

function condition(
  column: string,
  filter: FilterCondition,
  params: Params,
  members: Members | undefined,
): string {
  if (filter.filterType === 'text') return textCondition(column, filter, params, members)
  if (filter.filterType === 'number')
    return rangeCondition(column, filter.type, filter.filter, filter.filterTo, params, '?')
  // AG Grid's date filter compares calendar days; it sends 'YYYY-MM-DD hh:mm:ss'.
  const day = (value: string | null | undefined) => value?.slice(0, 10)
  return rangeCondition(
    `CAST(${column} AS DATE)`,
    filter.type,
    day(filter.dateFrom),
    day(filter.dateTo),
    params,
    'CAST(? AS DATE)',
  )
}

function columnCondition(
  column: string,
  filter: ColumnFilter,
  params: Params,
  members: Members | undefined,
): string {
  if ('conditions' in filter) {
    const parts = filter.conditions.map((part) => condition(column, part, params, members))
    return `(${parts.join(filter.operator === 'OR' ? ' OR ' : ' AND ')})`
  }
  return condition(column, filter, params, members)
}

export function whereClause(filter: FilterModel, columns: GridColumns, params: Params): string {
  const parts = Object.entries(filter).map(([name, columnFilter]) =>
    columnCondition(columns.identifier(name), columnFilter, params, columns.members(name)),
  )
  return parts.length === 0 ? '' : `WHERE ${parts.join(' AND ')}`
}

/**
 * ORDER BY for the grid's sort, with `tieBreaker` last so pages never overlap. Unsorted, rows come in file
 * order: DuckDB keeps insertion order (preserve_insertion_order) and skips a sort of millions of rows.
 */
export function orderClause(
  sort: readonly SortItem[],
  columns: GridColumns,
  tieBreaker: string | null,
): string {
  if (sort.length === 0) return ''
  const parts = sort.map(
    (item) => `${columns.identifier(item.colId)} ${item.sort === 'asc' ? 'ASC' : 'DESC'} NULLS LAST`,
  )
  if (tieBreaker !== null && !sort.some((item) => item.colId === tieBreaker))
    parts.push(quoteIdentifier(tieBreaker))
  return `ORDER BY ${parts.join(', ')}`
}

/** The sort's columns in order, with the tie breaker last unless sorted on: what orders rows completely. */
export function sortKeys(sort: readonly SortItem[], tieBreaker: string): SortItem[] {
  const keys = sort.map((item) => ({ colId: item.colId, sort: item.sort }))
  if (!sort.some((item) => item.colId === tieBreaker)) keys.push({ colId: tieBreaker, sort: 'asc' })
  return keys
}

/**
 * The rows that come after a row in the order orderClause gives (NULLS LAST on every key), given that
 * row's values of sortKeys() as DuckDB returned them: the next page without OFFSET, which made DuckDB
 * keep every row before the page (over a second for a page a million rows deep).
 * An ENUM sorts by its declared order, so it is compared by enum_code, not as text.
 */
export function afterRowCondition(
  keys: readonly SortItem[],
  end: PageEnd,
  columns: GridColumns,
  tieBreaker: string,
  params: Params,
  types: (DuckDBType | undefined)[],
): string {
  // Each value is bound with the type DuckDB gave it: guessed from the JS value, a whole DOUBLE would
  // be a BIGINT and a list would take its first item's type.
  const bind = (value: DuckDBValue, type: DuckDBType | undefined) => {
    types[params.length] = type
    params.push(value)
  }
  const after = (index: number): string => {
    const key = keys[index]
    if (key === undefined) return 'false'
    const column = key.colId === tieBreaker ? quoteIdentifier(tieBreaker) : columns.identifier(key.colId)
    const value = end.values[index] ?? null
    if (value === null) return `(${column} IS NULL AND ${after(index + 1)})`
    const members = columns.members(key.colId)
    const operator = key.sort === 'desc' ? '<' : '>'
    if (members?.enumerated === true) {
      const code = `enum_code(${column})`
      const bound = members.values.indexOf(String(value))
      return `(${column} IS NULL OR ${code} ${operator} ${bound} OR (${code} = ${bound} AND ${after(index + 1)}))`
    }
    const beyond = `${column} ${operator} ?`
    bind(value, end.types[index])
    const tied = `${column} = ?`
    bind(value, end.types[index])
    return `(${column} IS NULL OR ${beyond} OR (${tied} AND ${after(index + 1)}))`
  }
  return after(0)
}

/** The values of sortKeys() in the last row of a page, and their types, as DuckDB gave them. */
export interface PageEnd {
  values: DuckDBValue[]
  types: (DuckDBType | undefined)[]
}
