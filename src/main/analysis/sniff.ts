import { open } from 'node:fs/promises'
import { basename } from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { DatasetFormat } from '../../shared/datasets-contract'
import { DatasetConflictError } from './errors'

/**
 * What a file given to Datasets holds, read from its first bytes rather than its name: Parquet (the
 * `PAR1` magic at both ends), gzip (magic 1f 8b) whose text is delimited, or delimited text (CSV, TSV,
 * semicolon or pipe separated). Anything else — a binary, a config file such as /etc/passwd, an empty
 * file — is refused with a sentence saying why, before DuckDB turns it into a table.
 */

const HEAD_BYTES = 64 * 1024
/** More columns than this is not a table an analyst reads (DuckDB runs out of its memory on ~50,000). */
const MAX_COLUMNS = 2000
const DELIMITERS = [',', '\t', ';', '|'] as const
const DELIMITER_NAMES: Record<string, string> = { ',': 'comma', '\t': 'tab', ';': 'semicolon', '|': 'pipe' }

/** A conflict for the contract: the file does not fit what Datasets opens. */
export class NotADataFileError extends DatasetConflictError {}

export async function sniffDataFile(path: string): Promise<DatasetFormat> {
  const file = await open(path, 'r')
  try {
    const { size } = await file.stat()
    const name = basename(path)
    if (size === 0) throw new NotADataFileError(`${name} is empty.`)
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size))
    await file.read(head, 0, head.length, 0)
    if (head.subarray(0, 4).toString('latin1') === 'PAR1') {
      const tail = Buffer.alloc(4)
      await file.read(tail, 0, 4, Math.max(0, size - 4))
      if (size >= 12 && tail.toString('latin1') === 'PAR1') return 'parquet'
      throw new NotADataFileError(`${name} starts like a Parquet file but is cut short (no footer).`)
    }
    if (head[0] === 0x1f && head[1] === 0x8b) {
      let text: Buffer
      try {
        // The head of a gzip stream inflates as far as it goes; a cut-off member is expected here.
        text = gunzipSync(head, { finishFlush: 2 /* Z_SYNC_FLUSH */ })
      } catch {
        throw new NotADataFileError(`${name} is gzip-compressed but its content could not be read.`)
      }
      const problem = delimitedTextProblem(text.subarray(0, HEAD_BYTES), true)
      if (problem !== undefined) throw new NotADataFileError(`${name} is gzip-compressed, but ${problem}`)
      return 'csv.gz'
    }
    const problem = delimitedTextProblem(head, head.length < size)
    if (problem !== undefined) throw new NotADataFileError(`${name}: ${problem}`)
    return 'csv'
  } finally {
    await file.close()
  }
}

/** Why these bytes are not the start of delimited text, or undefined when they are. */
export function delimitedTextProblem(bytes: Buffer, truncated: boolean): string | undefined {
  const expected = 'Datasets opens CSV or TSV text (optionally .gz) and Parquet files.'
  if (bytes.includes(0)) return `its content is binary, not text. ${expected}`
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(trimPartialCharacter(bytes, truncated))
  } catch {
    return `its content is not UTF-8 text. ${expected}`
  }
  const lines = records(text.replace(/^\uFEFF/, ''))
  // The last record of a truncated head may be cut anywhere: the header too, when it is the only one.
  const headerCut = truncated && lines.length === 1
  if (truncated && lines.length > 1) lines.pop()
  const rows = lines.filter((line) => line.trim() !== '').slice(0, 50)
  if (rows.length === 0) return `it holds no text rows. ${expected}`
  const header = rows[0] as string
  let ragged: string | undefined
  for (const delimiter of DELIMITERS) {
    const columns = fieldCount(header, delimiter)
    if (columns < 2) continue
    if (columns > MAX_COLUMNS)
      return `its header has ${headerCut ? 'more than ' : ''}${columns.toLocaleString('en-US')} ${DELIMITER_NAMES[delimiter]}-separated columns; Datasets opens tables of up to ${MAX_COLUMNS.toLocaleString('en-US')}.`
    // Most sampled rows have the header's number of fields: a few broken lines are the quality report's
    // business, a file whose lines never line up is not a table.
    const body = rows.slice(1)
    const matching = body.filter((row) => fieldCount(row, delimiter) === columns).length
    if (matching >= Math.ceil(body.length * 0.8)) return undefined
    // A header may hold another separator inside a name (`name;amount, EUR`): try the next one.
    ragged ??= `its rows do not have the header's ${columns} ${DELIMITER_NAMES[delimiter]}-separated columns. ${expected}`
  }
  return ragged ?? `its first line has no comma, tab, semicolon or pipe between column names. ${expected}`
}

/**
 * The text's records: lines, except that a line feed inside double quotes belongs to its field (a
 * quoted note over several lines is one record, as DuckDB reads it). Line endings LF or CRLF.
 */
function records(text: string): string[] {
  const found: string[] = []
  let quoted = false
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const char = text[i]
    if (char === '"') quoted = !quoted
    else if (char === '\n' && !quoted) {
      found.push(text.slice(start, i > start && text[i - 1] === '\r' ? i - 1 : i))
      start = i + 1
    }
  }
  found.push(text.slice(start))
  return found
}

/** Fields of one line split by `delimiter`, ignoring delimiters inside double quotes. */
function fieldCount(line: string, delimiter: string): number {
  let count = 1
  let quoted = false
  for (const char of line) {
    if (char === '"') quoted = !quoted
    else if (char === delimiter && !quoted) count++
  }
  return count
}

/** Drops the bytes of a UTF-8 character cut off at the end of a truncated head. */
function trimPartialCharacter(bytes: Buffer, truncated: boolean): Buffer {
  if (!truncated) return bytes
  let end = bytes.length
  for (let back = 1; back <= 3 && end - back >= 0; back++) {
    const byte = bytes[end - back] as number
    if ((byte & 0xc0) === 0x80) continue
    if (byte >= 0xc0) {
      const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2
      if (back < length) end -= back
    }
    break
  }
  return bytes.subarray(0, end)
}
