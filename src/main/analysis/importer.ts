import { createReadStream } from 'node:fs'
import { link, mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { createGunzip } from 'node:zlib'
import type { DuckDBConnection } from '@duckdb/node-api'
import type {
  ColumnInfo,
  DatasetFormat,
  DatasetKind,
  ImportPhase,
  QualityReport,
} from '../../shared/datasets-contract'
import { isPaysimHeader, PAYSIM_COLUMNS } from '../../shared/paysim'
import {
  asNumber,
  createNumbersTable,
  describe,
  openWritable,
  quoteIdentifier,
  quoteLiteral,
  readOne,
} from './duck'
import {
  createTransactionTypeSql,
  LINE_COLUMN,
  PAYSIM_CSV_TYPES,
  paysimTransactionsViewSql,
  paysimAccountSql,
  REJECTS_TABLE,
  SOURCE_LINES_VIEW,
  SOURCE_TABLE,
  TRANSACTIONS_VIEW,
} from './layout'
import { emptyLineNumbers, firstLongLine, linesAtBytes, type CsvQuoting } from './csv-lines'
import { computeQualityReport, QUALITY_STEPS } from './quality'
import { createChainLinksSql, createFraudRecipientsSql } from './analyses'
import { REPEAT_USERS_TABLE } from './backtest'

/** What the import worker is asked to do. */
export interface ImportJob {
  /** A new database file, written only by this job. */
  databasePath: string
  sourcePath: string
  format: DatasetFormat
  sourceBytes: number
  /** Names the file in PaySim txn_ids. */
  datasetKey: string
}

export interface ImportProgress {
  phase: ImportPhase
  percent: number
  bytesRead: number
  rows: number
}

export interface ImportOutcome {
  kind: DatasetKind
  rowCount: number
  rejectedLines: number
  fraudCount: number | null
  columns: ColumnInfo[]
  sourceColumns: ColumnInfo[]
  quality: QualityReport
}

export class ImportCancelledError extends Error {
  constructor() {
    super('The import was cancelled.')
    this.name = 'ImportCancelledError'
  }
}

const PROGRESS_EVERY_MS = 200
/**
 * PaySim's nameOrig grouped once, into a temporary table of one row: how many names, and those that appear
 * more than once. That counts nameOrig exactly for the quality report, which looks for repeated rows only
 * among the rows of those names (a repeated row repeats its name too); the repeat users the backtest reads
 * are those of the names that are user ids. The grouping took 0.4 to 0.6 s on the full PaySim, where
 * finding the repeat users alone took 0.8 s.
 */
const NAME_GROUPS = 'name_groups'
const NAME = quoteIdentifier('nameOrig')
const nameGroupsSql = () => `CREATE TEMP TABLE ${NAME_GROUPS} AS
  SELECT count(${NAME}) AS names, list(${NAME}) FILTER (n > 1) AS repeated
  FROM (SELECT ${NAME}, count(*) AS n FROM ${SOURCE_TABLE} GROUP BY ALL)`
const repeatedNamesSql = () => `SELECT unnest(repeated) AS name FROM ${NAME_GROUPS}`
const keepRepeatUsersSql = () => `CREATE TABLE ${REPEAT_USERS_TABLE} AS
  SELECT user_id FROM (SELECT ${paysimAccountSql('name')} AS user_id FROM (${repeatedNamesSql()})) WHERE user_id IS NOT NULL`

/** Enough of the file to read the header and the typical length of a row. */
const HEAD_BYTES = 256 * 1024

interface FileHead {
  header: string
  /** Bytes of the file (compressed, for .gz) per row, to turn bytes read into rows read. */
  bytesPerRow: number
}

/** The first line of a CSV and its bytes per row, read from the head of the file (decompressed for .gz). */
async function readCsvHead(path: string, format: DatasetFormat): Promise<FileHead> {
  const raw = createReadStream(path, { start: 0, end: HEAD_BYTES - 1 })
  let consumed = 0
  raw.on('data', (chunk) => (consumed += chunk.length))
  const stream = format === 'csv.gz' ? raw.pipe(createGunzip()) : raw
  const chunks: Buffer[] = []
  let decompressed = 0
  try {
    // Only the head: 256 KB of a gzip stream may inflate to hundreds of MB (a file of empty lines).
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer)
      decompressed += (chunk as Buffer).length
      if (decompressed >= HEAD_BYTES) break
    }
  } catch {
    // A head cut inside the compressed stream ends early: what was decompressed is enough.
  }
  raw.destroy()
  if (stream !== raw) stream.destroy()
  const lines = Buffer.concat(chunks).subarray(0, HEAD_BYTES).toString('utf8').split('\n')
  const header = (lines[0] ?? '').replace(/\r$/, '')
  const rows = Math.max(1, lines.length - 2)
  return { header, bytesPerRow: Math.max(1, consumed / rows) }
}

/** DuckDB's refusal of a line longer than its max_line_size, and that limit. */
const LINE_TOO_LONG = /Maximum line size of (\d+) bytes exceeded/

/**
 * Why DuckDB could not read a CSV, in the user's terms where its own words mislead: a line longer than a
 * row can be is named by its line (DuckDB says "Line: 1" and echoes the whole line, megabytes of it); a
 * file that is mostly empty lines says so (DuckDB takes it for one long line).
 */
async function readFailure(
  error: unknown,
  openText: () => AsyncIterable<Buffer>,
  emptyLines: Promise<number[]>,
  signal: AbortSignal,
): Promise<unknown> {
  const limit = LINE_TOO_LONG.exec(error instanceof Error ? error.message : '')?.[1]
  if (limit === undefined) return error
  // The empty-line count refuses a file of millions of them with its own sentence.
  const empty = await emptyLines.then(
    () => undefined,
    (failure: unknown) => failure,
  )
  if (empty !== undefined) return empty
  const long = await firstLongLine(openText, Number(limit), signal)
  const most = `${Number(limit).toLocaleString('en-US')} bytes`
  return new Error(
    long === undefined
      ? `A line of the file is longer than a row of a table can be (${most}): it is not a table there. Nothing was imported.`
      : `Line ${long.line.toLocaleString('en-US')} is ${long.bytes.toLocaleString('en-US')} bytes long, longer than a row of a table can be (${most}): it is not a table there. Nothing was imported.`,
  )
}

/**
 * DuckDB reads `key=value` folders in a path as columns (hive partitioning): a PaySim file under a folder
 * named `isFraud=1` was imported with every row labelled fraud, and one under `step=9` gained a column.
 * A dataset is the file's own content.
 */
const NO_HIVE = 'hive_partitioning = false'

const csvOptions = (paysim: boolean, format: DatasetFormat) => {
  // The format comes from the file's content, so a gzip file need not be named .gz.
  const compression = format === 'csv.gz' ? 'gzip' : 'none'
  const common = `header = true, strict_mode = false, store_rejects = true, compression = '${compression}', ${NO_HIVE}`
  if (!paysim) return common
  const columns = PAYSIM_COLUMNS.map(
    (name) => `${quoteLiteral(name)}: ${quoteLiteral(PAYSIM_CSV_TYPES[name])}`,
  )
  // PaySim has no quoted fields: a stray quote is then a bad value on its own line, not the start of a field
  // that swallows the rest of the file.
  return `${common}, delim = ',', quote = '', escape = '', columns = {${columns.join(', ')}}`
}

/**
 * How DuckDB's sniffer finds a (non-PaySim) CSV quoted, for the lines its quoted fields go on over
 * (csv-lines.ts), with the options that move its choice as read_csv's do (store_rejects reads with
 * ignore_errors); undefined where it finds no quote, or punctuation of more than one byte, or fails:
 * the rows are then numbered by the empty lines alone.
 */
async function sniffQuoting(
  connection: DuckDBConnection,
  path: string,
  format: DatasetFormat,
): Promise<CsvQuoting | undefined> {
  const compression = format === 'csv.gz' ? 'gzip' : 'none'
  const row = await readOne(
    connection,
    `SELECT Delimiter AS delimiter, Quote AS quote, Escape AS escape
       FROM sniff_csv(${path}, header = true, strict_mode = false, ignore_errors = true, compression = '${compression}')`,
  ).catch(() => undefined)
  // sniff_csv says "(empty)" for none.
  const byte = (text: unknown) =>
    typeof text === 'string' && Buffer.byteLength(text) === 1 ? text.charCodeAt(0) : undefined
  const delimiter = byte(row?.delimiter)
  const quote = byte(row?.quote)
  if (delimiter === undefined || quote === undefined) return undefined
  const escape = byte(row?.escape)
  return { delimiter, quote, ...(escape === undefined ? {} : { escape }) }
}

/** Parquet has no lines to set aside: a value that does not fit becomes NULL, which the quality report lists. */
function paysimParquetSelect(path: string): string {
  const casts = PAYSIM_COLUMNS.map(
    (name) => `TRY_CAST(${quoteIdentifier(name)} AS ${PAYSIM_CSV_TYPES[name]}) AS ${quoteIdentifier(name)}`,
  )
  return `SELECT ${casts.join(', ')} FROM read_parquet(${quoteLiteral(path)}, ${NO_HIVE})`
}

/**
 * Runs one statement, reporting DuckDB's progress every 200 ms; the abort signal interrupts it. Progress
 * runs on a timer because the statement itself runs on DuckDB's threads, not this one.
 */
async function runWithProgress(
  connection: DuckDBConnection,
  sql: string,
  signal: AbortSignal,
  onPercent: (percent: number) => void,
): Promise<void> {
  if (signal.aborted) throw new ImportCancelledError()
  const interrupt = () => connection.interrupt()
  signal.addEventListener('abort', interrupt)
  const timer = setInterval(() => {
    const { percentage } = connection.progress
    if (percentage >= 0) onPercent(Math.min(100, percentage))
  }, PROGRESS_EVERY_MS)
  try {
    await connection.run(sql)
  } catch (error) {
    if (signal.aborted) throw new ImportCancelledError()
    throw error
  } finally {
    clearInterval(timer)
    signal.removeEventListener('abort', interrupt)
  }
}

/**
 * Lines DuckDB set aside shift the line numbers of the rows after them. When there are any, the line is
 * stored with each row (one rewrite of the table, only for such files); else it is the row's position.
 */
async function numberLines(
  connection: DuckDBConnection,
  firstLine: number,
  rejected: number,
  emptyLines: readonly number[],
) {
  if (rejected === 0 && emptyLines.length === 0) {
    await connection.run(
      `CREATE VIEW ${SOURCE_LINES_VIEW} AS SELECT *, rowid + ${firstLine} AS ${LINE_COLUMN} FROM ${SOURCE_TABLE}`,
    )
    return
  }
  // The lines without a row: those DuckDB set aside, and the empty ones it skipped.
  await createNumbersTable(
    connection,
    'empty_lines',
    ['line'],
    (function* () {
      for (const line of emptyLines) yield [line]
    })(),
  )
  await connection.run(`
    CREATE TEMP TABLE line_shift AS
      SELECT line - j - 1 AS from_ordinal, max(j) AS shift
      FROM (SELECT line, row_number() OVER (ORDER BY line) AS j
            FROM (SELECT line FROM ${REJECTS_TABLE} UNION SELECT line FROM empty_lines))
      GROUP BY ALL;
    CREATE TABLE numbered AS
      SELECT s.*, s.rowid + ${firstLine} + coalesce(sh.shift, 0) AS ${LINE_COLUMN}
      FROM ${SOURCE_TABLE} s ASOF LEFT JOIN line_shift sh ON s.rowid >= sh.from_ordinal
      ORDER BY s.rowid;
    DROP TABLE ${SOURCE_TABLE};
    ALTER TABLE numbered RENAME TO ${SOURCE_TABLE};
    CREATE VIEW ${SOURCE_LINES_VIEW} AS SELECT * FROM ${SOURCE_TABLE};
  `)
}

/** The characters DuckDB's file readers take as a glob pattern (`*`, `?`, `[…]`, `{…}`). */
const GLOB_CHARACTER = /[*?[\]{}]/g

/**
 * A path DuckDB reads as exactly this file. Its readers take every path as a glob pattern, so a file
 * named `paysim [1].csv` read `paysim 1.csv` beside it, and `q?.csv` every file it matches: such a file
 * is read through a link of a plain name (a symbolic link, or a hard one where those are not allowed),
 * in a folder of its own, removed after the import.
 */
export async function literalPath(path: string): Promise<{ path: string; remove: () => Promise<void> }> {
  if (path.search(GLOB_CHARACTER) < 0) return { path, remove: async () => {} }
  const folder = await mkdtemp(join(tmpdir(), 'aether-import-'))
  const remove = () => rm(folder, { recursive: true, force: true })
  const plain = join(folder, basename(path).replace(GLOB_CHARACTER, '_'))
  try {
    await symlink(resolve(path), plain).catch(() => link(resolve(path), plain))
  } catch (error) {
    await remove()
    throw new Error(
      `DuckDB would read ${JSON.stringify(basename(path))} as a pattern of file names, and no link of a plain name could be made to it (${(error as Error).message}): rename it without * ? [ ] { }.`,
      { cause: error },
    )
  }
  return { path: plain, remove }
}

/**
 * Imports a CSV, CSV.gz or Parquet file into a new DuckDB database: PaySim (recognized by its header) is
 * read with its types and mapped to the transaction shape; any other file is imported as it is. Lines that
 * cannot be read are kept aside with their line numbers, and every good row is kept. Then the quality
 * report is computed. Runs in the import worker.
 */
export async function runImport(
  job: ImportJob,
  onProgress: (progress: ImportProgress) => void,
  signal: AbortSignal,
): Promise<ImportOutcome> {
  const instance = await openWritable(job.databasePath)
  const connection = await instance.connect()
  const cleanups: (() => Promise<void>)[] = []
  try {
    // Progress is tracked from the first moment and never printed: the worker reports it.
    await connection.run(
      'SET enable_progress_bar = true; SET enable_progress_bar_print = false; SET progress_bar_time = 0',
    )
    const literal = await literalPath(job.sourcePath)
    cleanups.push(literal.remove)
    const sourcePath = literal.path
    const path = quoteLiteral(sourcePath)
    let paysim: boolean
    let bytesPerRow: number
    let select: string
    let firstLine: number
    let emptyLines: Promise<number[]> = Promise.resolve([])
    // The file's bytes as DuckDB reads them (decompressed), for the line numbers it gets wrong (csv-lines.ts).
    const openText = () => {
      const raw = createReadStream(sourcePath, { highWaterMark: 1024 * 1024 })
      return (job.format === 'csv.gz' ? raw.pipe(createGunzip()) : raw) as AsyncIterable<Buffer>
    }
    if (job.format === 'parquet') {
      const names = (await describe(connection, `read_parquet(${path}, ${NO_HIVE})`)).map(
        (column) => column.name,
      )
      paysim = names.length === PAYSIM_COLUMNS.length && PAYSIM_COLUMNS.every((name, i) => names[i] === name)
      const meta = await readOne(
        connection,
        `SELECT sum(num_rows) AS rows FROM parquet_file_metadata(${path})`,
      )
      bytesPerRow = job.sourceBytes / Math.max(1, asNumber(meta.rows))
      select = paysim ? paysimParquetSelect(sourcePath) : `SELECT * FROM read_parquet(${path}, ${NO_HIVE})`
      firstLine = 1
    } else {
      const head = await readCsvHead(job.sourcePath, job.format)
      paysim = isPaysimHeader(head.header)
      bytesPerRow = head.bytesPerRow
      select = `SELECT * FROM read_csv(${path}, ${csvOptions(paysim, job.format)})`
      firstLine = 2
      // Found beside DuckDB's read (one native search a chunk; a second pass only if there are any).
      const quoting = paysim ? undefined : await sniffQuoting(connection, path, job.format)
      emptyLines = emptyLineNumbers(openText, signal, quoting)
      // Awaited after the read; a failure before then is not left unhandled.
      emptyLines.catch(() => {})
    }

    const reading = (percent: number) => {
      const bytesRead = Math.round((job.sourceBytes * percent) / 100)
      onProgress({ phase: 'reading', percent, bytesRead, rows: Math.round(bytesRead / bytesPerRow) })
    }
    reading(0)
    if (paysim) {
      await connection.run(createTransactionTypeSql())
      // PaySim's account names are nearly all distinct: DuckDB tried a dictionary for every block of them
      // and never kept one. Without that try the full PaySim's rows were read in about 5.0 s instead of
      // 6.4 s, into the same 199 MB file (FSST as before).
      await connection.run(`SET disabled_compression_methods = 'dictionary'`)
    }
    await runWithProgress(connection, `CREATE TABLE ${SOURCE_TABLE} AS ${select}`, signal, reading).catch(
      async (error: unknown) => {
        if (signal.aborted || job.format === 'parquet') throw error
        throw await readFailure(error, openText, emptyLines, signal)
      },
    )
    const empty = await emptyLines.catch((error: unknown) => {
      throw signal.aborted ? new ImportCancelledError() : error
    })
    const rowCount = asNumber((await readOne(connection, `SELECT count(*) AS n FROM ${SOURCE_TABLE}`)).n)
    const checking = (done: number) =>
      onProgress({
        phase: 'checking',
        percent: (done / (QUALITY_STEPS + 2)) * 100,
        bytesRead: job.sourceBytes,
        rows: rowCount,
      })
    checking(0)

    if (job.format === 'parquet')
      await connection.run(
        `CREATE TABLE ${REJECTS_TABLE} (line BIGINT, column_idx BIGINT, column_name VARCHAR, error_type VARCHAR, error_message VARCHAR, csv_line VARCHAR)`,
      )
    else {
      // Each set-aside row's line counted from its byte position, not taken from DuckDB (csv-lines.ts).
      const positions = await connection.runAndReadAll(
        `SELECT DISTINCT line_byte_position FROM reject_errors WHERE line_byte_position IS NOT NULL`,
      )
      const lines = await linesAtBytes(
        openText,
        (positions.getColumns()[0] ?? []).map((position) => Number(position)),
        signal,
      ).catch((error: unknown) => {
        throw signal.aborted ? new ImportCancelledError() : error
      })
      await createNumbersTable(connection, 'reject_lines', ['position', 'line'], lines)
      await connection.run(
        `CREATE TABLE ${REJECTS_TABLE} AS
           SELECT coalesce(l.line, e.line) AS line, column_idx, column_name, CAST(error_type AS VARCHAR) AS error_type, error_message, csv_line
           FROM reject_errors e LEFT JOIN reject_lines l ON l.position = e.line_byte_position
           ORDER BY 1, column_idx`,
      )
    }
    const rejected = asNumber(
      (await readOne(connection, `SELECT count(DISTINCT line) AS n FROM ${REJECTS_TABLE}`)).n,
    )
    if (signal.aborted) throw new ImportCancelledError()
    await numberLines(connection, firstLine, rejected, empty)
    const sourceColumns = (await describe(connection, SOURCE_TABLE)).filter(
      (column) => column.name !== LINE_COLUMN,
    )
    if (paysim) await connection.run(paysimTransactionsViewSql(job.datasetKey))
    const columns = paysim ? await describe(connection, TRANSACTIONS_VIEW) : sourceColumns
    checking(1)

    const interrupt = () => connection.interrupt()
    signal.addEventListener('abort', interrupt)
    let quality: QualityReport
    try {
      // What is kept here only speeds two analyses and the backtest up, which find it themselves where
      // it is missing: an import does not fail for it (a cancel still cancels).
      const keep = async (statement: string): Promise<boolean> => {
        if (signal.aborted) throw new ImportCancelledError()
        return connection.run(statement).then(
          () => true,
          (error: unknown) => {
            if (signal.aborted) throw error
            return false
          },
        )
      }
      quality = await computeQualityReport(connection, {
        columns: sourceColumns,
        paysim,
        ...(paysim
          ? {
              grouped: {
                column: 'nameOrig',
                group: async () => {
                  await connection.run(nameGroupsSql())
                  await keep(keepRepeatUsersSql())
                  const { names } = await readOne(connection, `SELECT names FROM ${NAME_GROUPS}`)
                  return { distinct: asNumber(names), repeatedValues: repeatedNamesSql() }
                },
              },
            }
          : {}),
        onStep: (done) => checking(done + 1),
      })
      // The quality report reads the first lines of a finding in file order; what follows keeps tables
      // that are read sorted, and need not hold rows back to keep their order.
      await connection.run('SET preserve_insertion_order = false')
      if (paysim)
        for (const statement of [createChainLinksSql(), createFraudRecipientsSql()]) await keep(statement)
      checking(QUALITY_STEPS + 2)
    } catch (error) {
      if (signal.aborted) throw new ImportCancelledError()
      throw error
    } finally {
      signal.removeEventListener('abort', interrupt)
    }
    await connection.run('CHECKPOINT')
    return {
      kind: paysim ? 'paysim' : 'table',
      rowCount,
      rejectedLines: quality.rejectedLines,
      fraudCount: quality.paysim?.fraudRows ?? null,
      columns,
      sourceColumns,
      quality,
    }
  } finally {
    connection.closeSync()
    instance.closeSync()
    for (const cleanup of cleanups) await cleanup().catch(() => {})
  }
}
