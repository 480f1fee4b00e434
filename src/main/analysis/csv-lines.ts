/**
 * Line numbers of a CSV as a person (and `aether replay`) counts them, where DuckDB's do not agree:
 * - its reader skips empty lines (nothing, or a CR alone, between two line feeds) without a trace, so
 *   every row after one was numbered a line early, and a PaySim row's txn_id (made from its line)
 *   differed from the one a replay gives the same row;
 * - in a file whose lines end in CRLF, the line numbers of the rows it sets aside are about twice what
 *   they are (DuckDB 1.5: line 9,001 of the sample was reported as 18,001), while the byte positions it
 *   gives with them are right. Lines are counted from those;
 * - a quoted field may hold line feeds (a case note), so its row goes on over the lines after: those
 *   lines, empty or not, start no row either.
 */

const LF = 0x0a
const CR = 0x0d
const BLANK = Buffer.from('\n\n')
const BLANK_CRLF = Buffer.from('\n\r\n')

/** Beyond this many, a file is not a table with a few stray empty lines: the import refuses it. */
export const MAX_EMPTY_LINES = 5_000_000

const holdsEmptyLine = (bytes: Buffer) => bytes.includes(BLANK) || bytes.includes(BLANK_CRLF)

/** One native search for `\n\n` and `\n\r\n` per chunk (and across chunk ends): the common file has none. */
async function hasEmptyLine(chunks: AsyncIterable<Buffer>, signal?: AbortSignal): Promise<boolean> {
  let tail = Buffer.alloc(0)
  for await (const chunk of chunks) {
    signal?.throwIfAborted()
    if (holdsEmptyLine(chunk) || holdsEmptyLine(Buffer.concat([tail, chunk.subarray(0, 2)]))) return true
    tail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - 2)))
  }
  return false
}

/** How a file quotes its fields, as DuckDB's sniffer found it (sniff_csv): a byte each. */
export interface CsvQuoting {
  delimiter: number
  quote: number
  /** Inside quotes, the byte before a quote that does not end it (none, or the quote: doubled quotes). */
  escape?: number
}

const tooManyLines = () =>
  new Error(
    `The file has more than ${MAX_EMPTY_LINES.toLocaleString('en-US')} empty lines: it is not a table with a few stray ones`,
  )

/**
 * The 1-based numbers of the lines after the first (the header) that start no row: empty lines (ending in
 * LF or CRLF), and, with `quoting`, the lines a quoted field goes on over. `open` gives the file's bytes
 * (decompressed), and is called a second time only when the first pass found what to look for.
 */
export async function emptyLineNumbers(
  open: () => AsyncIterable<Buffer>,
  signal?: AbortSignal,
  quoting?: CsvQuoting,
): Promise<number[]> {
  if (quoting !== undefined && (await holdsByte(open(), quoting.quote, signal))) {
    const lines = await linesInsideQuotes(open(), quoting, signal)
    if (lines !== undefined) return lines
  }
  if (!(await hasEmptyLine(open(), signal))) return []
  const found: number[] = []
  let line = 1
  let lineStart = 0
  let offset = 0
  let previousByte = -1
  for await (const chunk of open()) {
    signal?.throwIfAborted()
    for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
      const length = offset + i - lineStart
      const before = i > 0 ? chunk[i - 1] : previousByte
      if (line > 1 && (length === 0 || (length === 1 && before === CR))) {
        if (found.length === MAX_EMPTY_LINES) throw tooManyLines()
        found.push(line)
      }
      line++
      lineStart = offset + i + 1
    }
    offset += chunk.length
    if (chunk.length > 0) previousByte = chunk[chunk.length - 1] as number
  }
  return found
}

async function holdsByte(
  chunks: AsyncIterable<Buffer>,
  byte: number,
  signal?: AbortSignal,
): Promise<boolean> {
  for await (const chunk of chunks) {
    signal?.throwIfAborted()
    if (chunk.includes(byte)) return true
  }
  return false
}

/** A quoted field longer than this is not one DuckDB reads (its max_line_size): the scan gives up. */
const MAX_QUOTED_BYTES = 2 * 1024 * 1024

const SPACE = 0x20
const BOM = [0xef, 0xbb, 0xbf]

/**
 * The lines that start no row in a file with quoted fields, a byte at a time, as DuckDB reads them: a
 * quote opens a field only at its start (after the delimiter or a line feed, spaces allowed between; one
 * inside an unquoted value is a character of it), and a quoted field ends at a quote that is not
 * escaped; a quote right after it goes on with the field (a doubled quote). Undefined where a quoted
 * field never ends within MAX_QUOTED_BYTES, or the lines a field goes on over pass MAX_EMPTY_LINES: the
 * file is then numbered by its empty lines alone, as before.
 */
async function linesInsideQuotes(
  chunks: AsyncIterable<Buffer>,
  { delimiter, quote, escape }: CsvQuoting,
  signal?: AbortSignal,
): Promise<number[] | undefined> {
  const found: number[] = []
  let empty = 0
  let line = 1
  /** Bytes of the line so far, its line feed not counted. */
  let length = 0
  let previous = LF
  let quoted = false
  let quotedBytes = 0
  /** At a field's start, spaces allowed: a quote here opens it. */
  let fieldStart = true
  /** The byte before ended a quoted field: a quote now is a doubled one, and the field goes on. */
  let closed = false
  let escaped = false
  /** The line began inside a quoted field: counted already. */
  let continued = false
  let offset = 0
  for await (const chunk of chunks) {
    signal?.throwIfAborted()
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number
      // A byte order mark is no part of the first field.
      if (
        offset + i < 3 &&
        byte === BOM[offset + i] &&
        previous === LF &&
        line === 1 &&
        length === offset + i
      ) {
        length++
        continue
      }
      const justClosed = closed
      closed = false
      if (quoted) {
        if (++quotedBytes > MAX_QUOTED_BYTES) return undefined
        if (escaped) escaped = false
        else if (escape !== undefined && escape !== quote && byte === escape) escaped = true
        else if (byte === quote) {
          quoted = false
          closed = true
        }
      } else if (byte === quote && (justClosed || fieldStart)) {
        quoted = true
        quotedBytes = 0
        fieldStart = false
      } else if (byte === delimiter) fieldStart = true
      else if (byte !== SPACE) fieldStart = false
      if (byte === LF) {
        if (quoted) {
          // A line feed inside a quoted field: the next line starts no row.
          if (found.length - empty >= MAX_EMPTY_LINES) return undefined
          found.push(line + 1)
        } else {
          if (!continued && line > 1 && (length === 0 || (length === 1 && previous === CR))) {
            if (++empty > MAX_EMPTY_LINES) throw tooManyLines()
            found.push(line)
          }
          fieldStart = true
        }
        line++
        length = 0
        continued = quoted
      } else length++
      previous = byte
    }
    offset += chunk.length
  }
  return found
}

/**
 * The line (1-based) of each byte position DuckDB gives a set-aside row (`line_byte_position`): the line
 * starts at that byte, or just after it where the position is the line feed that ends the line before
 * (DuckDB's for CRLF files). So the line is 1 + the line feeds at or before the position. One pass, up to
 * the last position.
 */
export async function linesAtBytes(
  open: () => AsyncIterable<Buffer>,
  positions: readonly number[],
  signal?: AbortSignal,
): Promise<Map<number, number>> {
  const sorted = [...new Set(positions)].sort((a, b) => a - b)
  const lines = new Map<number, number>()
  let next = 0
  let feeds = 0
  let offset = 0
  for await (const chunk of open()) {
    signal?.throwIfAborted()
    for (let i = chunk.indexOf(LF); i !== -1 && next < sorted.length; i = chunk.indexOf(LF, i + 1)) {
      while (next < sorted.length && (sorted[next] as number) < offset + i)
        lines.set(sorted[next++] as number, 1 + feeds)
      feeds++
    }
    offset += chunk.length
    if (next === sorted.length) break
  }
  while (next < sorted.length) lines.set(sorted[next++] as number, 1 + feeds)
  return lines
}

/** The first line (1-based) longer than `limit` bytes, without its line ending, and its length; undefined if none. */
export async function firstLongLine(
  open: () => AsyncIterable<Buffer>,
  limit: number,
  signal?: AbortSignal,
): Promise<{ line: number; bytes: number } | undefined> {
  let line = 1
  let lineStart = 0
  let offset = 0
  let long: number | undefined
  let previousByte = -1
  for await (const chunk of open()) {
    signal?.throwIfAborted()
    for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
      const ending = (i > 0 ? chunk[i - 1] : previousByte) === CR ? 1 : 0
      const bytes = offset + i - lineStart - ending
      if (bytes > limit) return { line, bytes }
      line++
      lineStart = offset + i + 1
    }
    offset += chunk.length
    if (chunk.length > 0) previousByte = chunk[chunk.length - 1] as number
    // A line still open past the limit is long whatever follows: said once the file ends, or at its feed.
    long = offset - lineStart > limit ? offset - lineStart : undefined
  }
  return long === undefined ? undefined : { line, bytes: long }
}
