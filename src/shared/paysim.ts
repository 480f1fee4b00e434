import type { Transaction, TransactionType } from './transaction'
import { TRANSACTION_TYPES } from './transaction'
import { excerpt } from './excerpt'

/**
 * The one mapping of a PaySim row to a Transaction (shared/design/DATA.md), in TypeScript for the stream
 * replay and as DuckDB SQL for dataset imports; an integration test proves the two give the same rows.
 *
 * - ts: PaySim's `step` is an hour of a simulated month, so event time is PAYSIM_EPOCH + (step - 1) hours.
 *   Every row of a step shares its ts; the row's position in the file (its line) orders them.
 * - txn_id: a UUID v5 of (dataset key, line number), so replaying or re-importing the same file gives the
 *   same ids and never a second row. The dataset key names the file (for example its name and size).
 * - user_id = nameOrig, counterparty_id = nameDest, currency USD, label = isFraud is 1; money becomes a
 *   2-decimal string (more decimals round half away from zero, as DuckDB's DECIMAL cast does).
 *   isFlaggedFraud, the simulator's own naive rule, is not carried.
 */

export const PAYSIM_COLUMNS = [
  'step',
  'type',
  'amount',
  'nameOrig',
  'oldbalanceOrg',
  'newbalanceOrig',
  'nameDest',
  'oldbalanceDest',
  'newbalanceDest',
  'isFraud',
  'isFlaggedFraud',
] as const
export type PaysimColumn = (typeof PAYSIM_COLUMNS)[number]

/** Event time of step 1. */
export const PAYSIM_EPOCH = '2026-01-01T00:00:00Z'
const PAYSIM_EPOCH_SECONDS = Date.parse(PAYSIM_EPOCH) / 1000
const HOUR_MS = 3_600_000
export const PAYSIM_CURRENCY = 'USD'

/** UUID v5 namespace of PaySim rows (fixed forever: changing it would change every txn_id). */
export const PAYSIM_ROW_NAMESPACE = '3f1c9b52-7d0e-4a61-9c84-5b2e6f0a7d13'

/** A row that cannot become a transaction, with the line to report. */
export class PaysimRowError extends Error {
  constructor(
    readonly line: number,
    readonly column: PaysimColumn | undefined,
    detail: string,
  ) {
    super(`line ${line}: ${column ? `${column} ` : ''}${detail}`)
    this.name = 'PaysimRowError'
  }
}

export interface PaysimPosition {
  /** Names the file, so two files never share ids. */
  datasetKey: string
  /** 1-based line number in the file (the header is line 1). */
  line: number
}

export function isPaysimHeader(line: string): boolean {
  const names = line.trim().split(',')
  return (
    names.length === PAYSIM_COLUMNS.length &&
    names.every((name, index) => name.trim() === PAYSIM_COLUMNS[index])
  )
}

/** Parses one data line of a PaySim CSV (PaySim has no quoted fields). */
export function parsePaysimLine(text: string, position: PaysimPosition): Transaction {
  const fields = text.replace(/\r$/, '').split(',')
  if (fields.length !== PAYSIM_COLUMNS.length)
    throw new PaysimRowError(
      position.line,
      undefined,
      `has ${fields.length} fields, expected ${PAYSIM_COLUMNS.length}`,
    )
  return paysimRowToTransaction(fields, position)
}

/** A value as an error shows it: quoted, and only its start when it is long (a line may be megabytes). */
const shown = (value: string) => excerpt(value, 40, true)

/** `fields` in PAYSIM_COLUMNS order. */
export function paysimRowToTransaction(fields: readonly string[], position: PaysimPosition): Transaction {
  const { line } = position
  const field = (index: number) => fields[index] ?? ''

  const ts = paysimStepToTs(field(0))
  if (ts === null)
    throw new PaysimRowError(line, 'step', `must be a whole number of hours from 1, got ${shown(field(0))}`)
  const type = field(1).trim()
  if (!(TRANSACTION_TYPES as readonly string[]).includes(type))
    throw new PaysimRowError(
      line,
      'type',
      `must be one of ${TRANSACTION_TYPES.join(', ')}, got ${shown(field(1))}`,
    )
  const amount = paysimMoney(field(2))
  if (amount === null || !/[1-9]/.test(amount))
    throw new PaysimRowError(line, 'amount', `must be a decimal greater than 0, got ${shown(field(2))}`)
  const money = (index: number) => {
    const value = paysimMoney(field(index))
    if (value === null)
      throw new PaysimRowError(
        line,
        PAYSIM_COLUMNS[index],
        `must be a decimal number, got ${shown(field(index))}`,
      )
    return value
  }
  const name = (index: number) => {
    const value = field(index)
    if (value.length < 1 || value.length > 128)
      throw new PaysimRowError(line, PAYSIM_COLUMNS[index], 'must be 1 to 128 characters')
    return value
  }
  const isFraud = field(9).trim()
  if (isFraud !== '0' && isFraud !== '1')
    throw new PaysimRowError(line, 'isFraud', `must be 0 or 1, got ${shown(field(9))}`)

  return {
    txn_id: paysimTxnId(position.datasetKey, line),
    ts,
    user_id: name(3),
    counterparty_id: name(6),
    type: type as TransactionType,
    amount,
    currency: PAYSIM_CURRENCY,
    balance_before: money(4),
    balance_after: money(5),
    cp_balance_before: money(7),
    cp_balance_after: money(8),
    label: isFraud === '1',
  }
}

/** Event time of a step, or null if the step is not a whole number from 1. */
export function paysimStepToTs(step: string): string | null {
  const text = step.trim()
  if (!/^\d{1,7}$/.test(text)) return null
  const hours = Number(text)
  if (hours < 1) return null
  return new Date(PAYSIM_EPOCH_SECONDS * 1000 + (hours - 1) * HOUR_MS).toISOString()
}

const DECIMAL = /^(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/

/**
 * A non-negative decimal (the sample has exponents, such as 1.92E+07) as a 2-decimal string, or null if
 * it is not one or has more than 16 integer digits.
 */
export function paysimMoney(raw: string): string | null {
  const match = DECIMAL.exec(raw.trim())
  if (!match) return null
  let whole = match[1] ?? ''
  let fraction = match[2] ?? ''
  if (match[3] !== undefined) {
    const digits = whole + fraction
    const point = whole.length + Number(match[3])
    if (point > 40) return null
    if (point < -2) return '0.00'
    whole = point <= 0 ? '0' : digits.slice(0, point).padEnd(point, '0')
    fraction = point <= 0 ? '0'.repeat(-point) + digits : digits.slice(point)
  }
  whole = whole.replace(/^0+(?=\d)/, '')
  let text: string
  if (fraction.length <= 2) text = `${whole}.${fraction.padEnd(2, '0')}`
  else {
    const cents = BigInt(whole + fraction.slice(0, 2)) + (fraction.charCodeAt(2) >= 53 /* '5' */ ? 1n : 0n)
    const digits = cents.toString().padStart(3, '0')
    text = `${digits.slice(0, -2)}.${digits.slice(-2)}`
  }
  return text.indexOf('.') > 16 ? null : text
}

export function paysimTxnId(datasetKey: string, line: number): string {
  return uuidV5(PAYSIM_ROW_NAMESPACE, `${datasetKey}:${line}`)
}

/**
 * DuckDB SQL selecting the Transaction columns (plus `seq`, the line) from `relation`, a table or
 * subquery holding the PaySim columns (best read with `all_varchar = true`, so the text is mapped exactly
 * as the TypeScript mapping reads it) and a column `lineColumn` with each row's 1-based file line. A value
 * the TypeScript mapping refuses becomes NULL here, so a quality report can list those rows by line.
 */
export function paysimTransactionsSql(options: {
  relation: string
  datasetKey: string
  lineColumn: string
}): string {
  const text = (column: string) => `CAST("${column}" AS VARCHAR)`
  const trimmed = (column: string) => `trim(${text(column)})`
  const money = (column: string) =>
    `CASE WHEN regexp_full_match(${trimmed(column)}, '\\d+(\\.\\d+)?([eE][+-]?\\d+)?') THEN TRY_CAST(${trimmed(column)} AS DECIMAL(18, 2)) END`
  const name = (column: string) =>
    `CASE WHEN length(${text(column)}) BETWEEN 1 AND 128 THEN ${text(column)} END`
  const line = `"${options.lineColumn}"`
  const namespaceHex = PAYSIM_ROW_NAMESPACE.replaceAll('-', '')
  const key = options.datasetKey.replaceAll("'", "''")
  const variant = `((position(substr(__h, 17, 1) IN '0123456789abcdef') - 1) & 3) | 8`
  return `SELECT
  CAST(substr(__h, 1, 8) || '-' || substr(__h, 9, 4) || '-5' || substr(__h, 14, 3) || '-'
    || substr('0123456789abcdef', (${variant}) + 1, 1) || substr(__h, 18, 3) || '-' || substr(__h, 21, 12) AS UUID) AS txn_id,
  CASE WHEN regexp_full_match(${trimmed('step')}, '\\d{1,7}') AND CAST(${trimmed('step')} AS BIGINT) >= 1
    THEN to_timestamp(${PAYSIM_EPOCH_SECONDS} + (CAST(${trimmed('step')} AS BIGINT) - 1) * 3600) END AS ts,
  ${name('nameOrig')} AS user_id,
  ${name('nameDest')} AS counterparty_id,
  CASE WHEN ${trimmed('type')} IN (${TRANSACTION_TYPES.map((type) => `'${type}'`).join(', ')}) THEN ${trimmed('type')} END AS type,
  CASE WHEN (${money('amount')}) > 0 THEN ${money('amount')} END AS amount,
  '${PAYSIM_CURRENCY}' AS currency,
  CAST(NULL AS VARCHAR) AS merchant_type,
  CAST(NULL AS VARCHAR) AS source_ip,
  CAST(NULL AS VARCHAR) AS device_id,
  ${money('oldbalanceOrg')} AS balance_before,
  ${money('newbalanceOrig')} AS balance_after,
  ${money('oldbalanceDest')} AS cp_balance_before,
  ${money('newbalanceDest')} AS cp_balance_after,
  CASE ${trimmed('isFraud')} WHEN '1' THEN true WHEN '0' THEN false END AS label,
  CAST(${line} AS BIGINT) AS seq
FROM (
  SELECT *, sha1(unhex('${namespaceHex}') || encode('${key}:' || CAST(${line} AS VARCHAR))) AS __h
  FROM ${options.relation}
)`
}

/** RFC 9562 name-based UUID (SHA-1). */
export function uuidV5(namespace: string, name: string): string {
  const namespaceHex = namespace.replaceAll('-', '')
  const nameBytes = new TextEncoder().encode(name)
  const input = new Uint8Array(16 + nameBytes.length)
  for (let i = 0; i < 16; i++) input[i] = parseInt(namespaceHex.slice(i * 2, i * 2 + 2), 16)
  input.set(nameBytes, 16)
  const hash = sha1(input)
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80
  let hex = ''
  for (let i = 0; i < 16; i++) hex += (hash[i] ?? 0).toString(16).padStart(2, '0')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

/** SHA-1 (FIPS 180-4), here only for UUID v5: src/shared cannot reach node:crypto, and WebCrypto is async. */
export function sha1(message: Uint8Array): Uint8Array {
  const bitLength = message.length * 8
  const padded = new Uint8Array((((message.length + 8) >> 6) + 1) * 64)
  padded.set(message)
  padded[message.length] = 0x80
  const view = new DataView(padded.buffer)
  view.setUint32(padded.length - 8, Math.floor(bitLength / 0x1_0000_0000))
  view.setUint32(padded.length - 4, bitLength >>> 0)

  let h0 = 0x67452301
  let h1 = 0xefcdab89
  let h2 = 0x98badcfe
  let h3 = 0x10325476
  let h4 = 0xc3d2e1f0
  const w = new Uint32Array(80)
  for (let block = 0; block < padded.length; block += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(block + i * 4)
    for (let i = 16; i < 80; i++) {
      const x = (w[i - 3] ?? 0) ^ (w[i - 8] ?? 0) ^ (w[i - 14] ?? 0) ^ (w[i - 16] ?? 0)
      w[i] = (x << 1) | (x >>> 31)
    }
    let a = h0
    let b = h1
    let c = h2
    let d = h3
    let e = h4
    for (let i = 0; i < 80; i++) {
      let f: number
      let k: number
      if (i < 20) {
        f = (b & c) | (~b & d)
        k = 0x5a827999
      } else if (i < 40) {
        f = b ^ c ^ d
        k = 0x6ed9eba1
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d)
        k = 0x8f1bbcdc
      } else {
        f = b ^ c ^ d
        k = 0xca62c1d6
      }
      const t = (((a << 5) | (a >>> 27)) + f + e + k + (w[i] ?? 0)) >>> 0
      e = d
      d = c
      c = (b << 30) | (b >>> 2)
      b = a
      a = t
    }
    h0 = (h0 + a) >>> 0
    h1 = (h1 + b) >>> 0
    h2 = (h2 + c) >>> 0
    h3 = (h3 + d) >>> 0
    h4 = (h4 + e) >>> 0
  }
  const out = new Uint8Array(20)
  const outView = new DataView(out.buffer)
  ;[h0, h1, h2, h3, h4].forEach((word, index) => outView.setUint32(index * 4, word))
  return out
}
