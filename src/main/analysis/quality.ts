import type { DuckDBConnection } from '@duckdb/node-api'
import type {
  BalanceCheck,
  Cell,
  ColumnInfo,
  ColumnQuality,
  QualityReport,
  RejectedLine,
} from '../../shared/datasets-contract'
import { asNumber, asText, quoteIdentifier, readOne, readRows } from './duck'
import { LINE_COLUMN, REJECTS_TABLE, SOURCE_LINES_VIEW, SOURCE_TABLE } from './layout'

/** How many line numbers a finding lists; the count says how many there are in all. */
const LINES_LISTED = 5
const REJECTS_LISTED = 100
const ID_COLUMN = /^(txn_?id|transaction_?id|id)$/i
/** A cent: balances that differ by less are consistent. */
const TOLERANCE = '0.01'

const isNested = (type: string) => /[[\]]|^(STRUCT|MAP|UNION)/i.test(type)

const lineList = (cell: unknown): number[] => {
  if (typeof cell !== 'string' || cell === '') return []
  return (JSON.parse(cell) as (string | number)[]).map(Number)
}

/**
 * The first lines of the rows that meet `condition`. Rows are read in file order (DuckDB's
 * preserve_insertion_order, on by default: the importer turns it off only after the report), so the scan
 * stops at the fifth match: a few milliseconds, where ordering every match by line read them all (up to a
 * quarter of a second for a balance check of the full PaySim).
 */
async function firstLines(connection: DuckDBConnection, condition: string): Promise<number[]> {
  const rows = await readRows(
    connection,
    `SELECT ${LINE_COLUMN} AS line FROM ${SOURCE_LINES_VIEW} WHERE ${condition} LIMIT ${LINES_LISTED}`,
  )
  return rows.map((row) => asNumber(row.line))
}

async function rejectedLines(
  connection: DuckDBConnection,
): Promise<{ count: number; listed: RejectedLine[] }> {
  const [total] = await readRows(connection, `SELECT count(DISTINCT line) AS lines FROM ${REJECTS_TABLE}`)
  const rows = await readRows(
    connection,
    `SELECT line, arg_min(column_name, column_idx) AS column_name, arg_min(error_type, column_idx) AS error_type,
       arg_min(error_message, column_idx) AS error_message, arg_min(csv_line, column_idx) AS csv_line
     FROM ${REJECTS_TABLE} GROUP BY line ORDER BY line LIMIT ${REJECTS_LISTED}`,
  )
  return {
    count: asNumber(total?.lines),
    listed: rows.map((row) => ({
      line: asNumber(row.line),
      column: asText(row.column_name),
      error: asText(row.error_type) ?? 'ERROR',
      message: asText(row.error_message) ?? '',
      text: (asText(row.csv_line) ?? '').replace(/^\r?\n/, ''),
    })),
  }
}

/** Min and max say something only of numbers and times; of names and categories they do not. */
const isOrdered = (type: string) =>
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|REAL|DECIMAL|DATE|TIME|TIMESTAMP)/i.test(
    type,
  )

/** Up to this many rows every distinct count is exact (one hash table per column, quick). */
const EXACT_DISTINCT_ROWS = 2_000_000
/** Beyond it, a column whose estimate is at most this is counted exactly (a small table, cheap). */
const EXACT_DISTINCT_VALUES = 100_000
/** Types with a few values at most: counted exactly at any size, in the scan itself (a tiny hash table). */
const isSmallDomain = (type: string) => /^(BOOLEAN|ENUM)/i.test(type)

/**
 * Per column: nulls, min and max where they mean something, and distinct values (exact or estimated),
 * except for the `grouped` column, whose values the caller counts exactly (see QualityOptions.grouped).
 */
function columnStatsSql(columns: ColumnInfo[], exactAll: boolean, grouped: string | undefined): string[] {
  return columns.flatMap((column, index) => {
    const name = quoteIdentifier(column.name)
    const nested = isNested(column.type)
    const ordered = !nested && isOrdered(column.type)
    return [
      `count(*) - count(${name}) AS n${index}`,
      ordered ? `CAST(min(${name}) AS VARCHAR) AS lo${index}` : `NULL AS lo${index}`,
      ordered ? `CAST(max(${name}) AS VARCHAR) AS hi${index}` : `NULL AS hi${index}`,
      nested || column.name === grouped
        ? `0 AS d${index}`
        : exactAll || isSmallDomain(column.type)
          ? `count(DISTINCT ${name}) AS d${index}`
          : `approx_count_distinct(${name}) AS d${index}`,
    ]
  })
}

async function columnQuality(
  connection: DuckDBConnection,
  columns: ColumnInfo[],
  rowCount: number,
  stats: Record<string, Cell>,
  grouped: string | undefined,
): Promise<ColumnQuality[]> {
  const exactAll = rowCount <= EXACT_DISTINCT_ROWS
  const distinctIsExact = (column: ColumnInfo) =>
    exactAll || isNested(column.type) || isSmallDomain(column.type) || column.name === grouped
  // A large file: the estimates that are small are made exact in one more pass over those columns.
  const recount = columns.flatMap((column, index) =>
    !distinctIsExact(column) && asNumber(stats[`d${index}`]) <= EXACT_DISTINCT_VALUES ? [index] : [],
  )
  if (recount.length > 0) {
    const exact = await readOne(
      connection,
      `SELECT ${recount.map((index) => `count(DISTINCT ${quoteIdentifier(columns[index]?.name ?? '')}) AS d${index}`).join(', ')} FROM ${SOURCE_TABLE}`,
    )
    for (const index of recount) stats[`d${index}`] = exact[`d${index}`] ?? null
  }
  const castErrors = await readRows(
    connection,
    `SELECT column_name, count(DISTINCT line) AS lines,
       CAST(to_json(list_sort(list_distinct(list(line)))[1:${LINES_LISTED}]) AS VARCHAR) AS first_lines
     FROM ${REJECTS_TABLE} WHERE error_type = 'CAST' GROUP BY column_name`,
  )
  const errorsByColumn = new Map(castErrors.map((row) => [asText(row.column_name), row]))
  const report: ColumnQuality[] = []
  for (const [index, column] of columns.entries()) {
    const nulls = asNumber(stats[`n${index}`])
    const errors = errorsByColumn.get(column.name)
    // An estimate never claims more distinct values than there are values.
    const distinct = Math.min(asNumber(stats[`d${index}`]), Math.max(0, rowCount - nulls))
    report.push({
      name: column.name,
      type: column.type,
      nulls,
      nullLines: nulls > 0 ? await firstLines(connection, `${quoteIdentifier(column.name)} IS NULL`) : [],
      typeErrors: asNumber(errors?.lines),
      typeErrorLines: lineList(errors?.first_lines),
      min: asText(stats[`lo${index}`]),
      max: asText(stats[`hi${index}`]),
      distinct,
      distinctExact: distinctIsExact(column) || recount.includes(index),
    })
  }
  return report
}

/**
 * Rows that repeat an earlier row: by an id column where the file has one, else by every column. Where it
 * is known which rows can repeat another (QualityOptions.grouped), only those `candidates` are compared.
 */
async function duplicates(
  connection: DuckDBConnection,
  columns: ColumnInfo[],
  candidates: string | undefined,
): Promise<QualityReport['duplicates']> {
  const idColumn = columns.find((column) => ID_COLUMN.test(column.name))
  const keyColumns = idColumn ? [idColumn] : columns
  const key = idColumn ? idColumn.name : 'every column'
  const keyExpression = `hash(${keyColumns.map((column) => quoteIdentifier(column.name)).join(', ')})`
  const rows =
    candidates === undefined ? SOURCE_TABLE : `(SELECT * FROM ${SOURCE_LINES_VIEW} WHERE ${candidates})`
  const repeated = `SELECT k FROM (SELECT ${keyExpression} AS k FROM ${rows}) GROUP BY k HAVING count(*) > 1`
  const totals = await readOne(
    connection,
    `SELECT coalesce(sum(c - 1), 0) AS extra FROM (SELECT count(*) AS c FROM (SELECT ${keyExpression} AS k FROM ${rows}) GROUP BY k HAVING count(*) > 1)`,
  )
  const extraRows = asNumber(totals.extra)
  const lines =
    extraRows > 0
      ? (
          await readRows(
            connection,
            `SELECT ${LINE_COLUMN} AS line FROM ${SOURCE_LINES_VIEW}
             WHERE ${candidates === undefined ? '' : `(${candidates}) AND `}${keyExpression} IN (${repeated})
             ORDER BY ${LINE_COLUMN} LIMIT ${LINES_LISTED * 2}`,
          )
        ).map((row) => asNumber(row.line))
      : []
  return { key, extraRows, lines }
}

const ORIGIN_ERROR = `abs(CASE WHEN type = 'CASH_IN' THEN "oldbalanceOrg" + amount ELSE "oldbalanceOrg" - amount END - "newbalanceOrig") > ${TOLERANCE}`
const DESTINATION_ERROR = `type IN ('TRANSFER', 'CASH_OUT') AND "nameDest" LIKE 'C%' AND abs("oldbalanceDest" + amount - "newbalanceDest") > ${TOLERANCE}`

/** PaySim's own checks, as parts of the scan over every row (each balance check worked out once a row). */
const PAYSIM_SCAN = `(SELECT *, ${ORIGIN_ERROR} AS __origin, ${DESTINATION_ERROR} AS __destination FROM ${SOURCE_TABLE})`
const PAYSIM_STATS_SQL = [
  'count(*) FILTER ("isFraud") AS fraud',
  'count(*) FILTER ("isFlaggedFraud") AS flagged',
  'min(step) AS step_min',
  'max(step) AS step_max',
  'count(*) FILTER (amount <= 0) AS non_positive',
  ...['origin', 'destination'].flatMap((check) => [
    `count(*) FILTER (__${check}) AS ${check}`,
    `count(*) FILTER (__${check} AND "isFraud") AS ${check}_fraud`,
  ]),
]

async function paysimChecks(
  connection: DuckDBConnection,
  stats: Record<string, Cell>,
): Promise<NonNullable<QualityReport['paysim']>> {
  const check = async (name: string, condition: string): Promise<BalanceCheck> => {
    const rows = asNumber(stats[name])
    return {
      rows,
      fraudRows: asNumber(stats[`${name}_fraud`]),
      lines: rows > 0 ? await firstLines(connection, condition) : [],
    }
  }
  const stepMin = stats.step_min
  const stepMax = stats.step_max
  return {
    fraudRows: asNumber(stats.fraud),
    flaggedRows: asNumber(stats.flagged),
    stepMin: stepMin === null || stepMin === undefined ? null : asNumber(stepMin),
    stepMax: stepMax === null || stepMax === undefined ? null : asNumber(stepMax),
    nonPositiveAmounts: asNumber(stats.non_positive),
    originBalanceErrors: await check('origin', ORIGIN_ERROR),
    destinationBalanceErrors: await check('destination', DESTINATION_ERROR),
  }
}

export const QUALITY_STEPS = 4

export interface QualityOptions {
  columns: ColumnInfo[]
  paysim: boolean
  /**
   * A column nearly unique to each row that any repeated row shares with the row it repeats (PaySim's
   * nameOrig), and how the caller groups it, once, after the scan over every row: that gives its exact
   * distinct count in place of an estimate, and only the rows whose value repeats are compared for
   * duplicates.
   */
  grouped?: { column: string; group: () => Promise<GroupedColumn> }
  /** Counts the steps done, of QUALITY_STEPS. */
  onStep: (done: number) => void
}

export interface GroupedColumn {
  /** How many distinct values other than NULL. */
  distinct: number
  /** A query of the values that appear more than once (NULL among them or not). */
  repeatedValues: string
}

/**
 * The data-quality report of an imported dataset: what was set aside and why (with lines), nulls, ranges
 * and duplicates per column, and PaySim's own consistency checks. What is counted over every row is
 * counted in one scan of them.
 */
export async function computeQualityReport(
  connection: DuckDBConnection,
  options: QualityOptions,
): Promise<QualityReport> {
  const started = performance.now()
  const rowCount = asNumber((await readOne(connection, `SELECT count(*) AS n FROM ${SOURCE_TABLE}`)).n)
  const rejects = await rejectedLines(connection)
  options.onStep(1)
  const grouped = options.columns.some((column) => column.name === options.grouped?.column)
    ? options.grouped
    : undefined
  const stats = await readOne(
    connection,
    `SELECT ${[...columnStatsSql(options.columns, rowCount <= EXACT_DISTINCT_ROWS, grouped?.column), ...(options.paysim ? PAYSIM_STATS_SQL : [])].join(', ')}
     FROM ${options.paysim ? PAYSIM_SCAN : SOURCE_TABLE}`,
  )
  options.onStep(2)
  let candidates: string | undefined
  if (grouped !== undefined) {
    const groups = await grouped.group()
    const index = options.columns.findIndex((column) => column.name === grouped.column)
    stats[`d${index}`] = groups.distinct
    // The rows whose value repeats, and those without one (NULL is no value IN finds).
    const name = quoteIdentifier(grouped.column)
    candidates = `${name} IN (${groups.repeatedValues})${asNumber(stats[`n${index}`]) > 0 ? ` OR ${name} IS NULL` : ''}`
  }
  const columns = await columnQuality(connection, options.columns, rowCount, stats, grouped?.column)
  options.onStep(3)
  const duplicateRows = await duplicates(connection, options.columns, candidates)
  options.onStep(4)
  return {
    rowCount,
    rejectedLines: rejects.count,
    rejects: rejects.listed,
    columns,
    duplicates: duplicateRows,
    paysim: options.paysim ? await paysimChecks(connection, stats) : null,
    millis: Math.round(performance.now() - started),
  }
}
