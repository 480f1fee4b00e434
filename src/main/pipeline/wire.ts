import { z } from 'zod'
import {
  CONTROL_CHARACTER,
  isIpAddress,
  TRANSACTION_TYPES,
  Transaction,
  TS_FRACTION_TOO_LONG,
  TS_OFFSET_TOO_FAR,
} from '../../shared/transaction'
import { WIRE_VERSION } from './partitioning'

/**
 * A transaction on a stream: one entry, one flat string field per attribute (readable with
 * `redis-cli XRANGE`), plus `v`, the schema version (DATA.md).
 */

const OPTIONAL_TEXT = [
  'merchant_type',
  'source_ip',
  'device_id',
  'balance_before',
  'balance_after',
  'cp_balance_before',
  'cp_balance_after',
] as const

/** The entry's fields as XADD takes them: field, value, field, value… */
export function encodeTransaction(txn: Transaction): string[] {
  const fields = [
    'v',
    WIRE_VERSION,
    'txn_id',
    txn.txn_id,
    'ts',
    txn.ts,
    'user_id',
    txn.user_id,
    'counterparty_id',
    txn.counterparty_id,
    'type',
    txn.type,
    'amount',
    txn.amount,
    'currency',
    txn.currency,
  ]
  for (const name of OPTIONAL_TEXT) {
    const value = txn[name]
    if (value !== undefined) fields.push(name, value)
  }
  if (txn.label !== undefined) fields.push('label', txn.label ? 'true' : 'false')
  return fields
}

/**
 * The entry field naming the Decision API key that sent the transaction (decision-replies.ts's
 * API_KEY_FIELD; repeated here so the decoder imports nothing of the gateway's side).
 */
const API_KEY = 'api_key'
/** The largest bigint, the column api_key_id's type. */
const MAX_BIGINT = 9_223_372_036_854_775_807n

/** apiKeyId: the key's id in canonical digits, when the entry names one. */
export type DecodeResult =
  | { ok: true; txn: Transaction; apiKeyId?: string }
  /** outsideWindow: a valid transaction refused for its time alone (an identical stored copy absorbs it). */
  | { ok: false; reason: string; outsideWindow?: Transaction }

/** The api_key field's value as the key id to store, or why it cannot be one. */
function decodeApiKey(value: string): { ok: true; id: string } | { ok: false; reason: string } {
  const shown = JSON.stringify(value.slice(0, 40))
  if (!/^\d{1,19}$/.test(value))
    return { ok: false, reason: `${API_KEY}: must be an API key id (digits only), not ${shown}` }
  const id = BigInt(value)
  if (id > MAX_BIGINT) return { ok: false, reason: `${API_KEY}: ${shown} is beyond the largest key id` }
  return { ok: true, id: id.toString() }
}

// The same patterns the zod schema uses (a unit test holds them equal), checked without building zod issues.
const uuidPattern = z.regexes.uuid()
const datetimePattern = z.regexes.datetime({ offset: true, local: false, precision: null })
const moneyPattern = /^-?\d{1,16}(\.\d{1,2})?$/
const currencyPattern = /^[A-Z]{3}$/
const types = new Set<string>(TRANSACTION_TYPES)

/**
 * Redis hands stream values over as UTF-8 text, replacing bytes that are not valid UTF-8 with U+FFFD.
 * The other fields are checked by pattern; free-text fields would be stored garbled, so refuse them.
 */
const REPLACEMENT_CHARACTER = '\uFFFD'
const FREE_TEXT = ['user_id', 'counterparty_id', 'merchant_type', 'device_id'] as const

const text = (value: string | undefined, max: number) =>
  value !== undefined && value.length >= 1 && value.length <= max && !CONTROL_CHARACTER.test(value)
const optionalText = (value: string | undefined, max: number) =>
  value === undefined || (value.length <= max && !CONTROL_CHARACTER.test(value))
const optionalMoney = (value: string | undefined) => value === undefined || moneyPattern.test(value)

/**
 * The times a transaction may carry. The schema takes any date from year 0000 to 9999; a ts far from
 * now is a producer's mistake (PostgreSQL even refuses year 0000), so it is a dead letter naming the window.
 */
export interface TimeWindow {
  /** The earliest ts accepted, in ms since 1970. */
  earliestMs: number
  /** How far past the worker's clock a ts may lie, in ms (clocks differ; a day covers time zones too). */
  aheadMs: number
}

export const DEFAULT_TIME_WINDOW: TimeWindow = {
  earliestMs: Date.parse('2000-01-01T00:00:00Z'),
  aheadMs: 24 * 60 * 60 * 1000,
}

const SPANS: [ms: number, unit: string][] = [
  [86_400_000, 'day'],
  [3_600_000, 'hour'],
  [60_000, 'minute'],
  [1000, 'second'],
]

/** "1 day", "36 hours": the window's reach in the words a producer reads. */
export function describeSpan(ms: number): string {
  const [size, unit] = SPANS.find(([size]) => ms % size === 0 && ms >= size) ?? [1, 'ms']
  const count = ms / size
  return unit === 'ms' ? `${ms} ms` : `${count} ${unit}${count === 1 ? '' : 's'}`
}

/** Why a ts lies outside the window, or undefined when it is inside. */
function outsideWindow(ts: string, window: TimeWindow, now: number): string | undefined {
  const at = Date.parse(ts)
  if (at < window.earliestMs)
    return `ts: ${ts} is before ${new Date(window.earliestMs).toISOString()}, the earliest time accepted`
  if (at > now + window.aheadMs)
    return `ts: ${ts} is more than ${describeSpan(window.aheadMs)} ahead of this worker's clock (${new Date(now).toISOString()})`
  return undefined
}

/**
 * Reads an entry's fields (as XREADGROUP returns them) into a Transaction. The hot path checks the
 * schema's rules by hand; only a rejected entry goes through zod, whose message becomes the dead-letter
 * reason, and zod has the last word, so the two can never disagree about what is valid. The time window
 * is checked last, on a valid transaction.
 */
export function decodeTransaction(
  fields: readonly string[],
  window: TimeWindow = DEFAULT_TIME_WINDOW,
  now = Date.now(),
): DecodeResult {
  if (fields.length % 2 !== 0)
    return { ok: false, reason: 'the entry has an odd number of field names and values' }
  const record: Record<string, string> = {}
  for (let i = 0; i < fields.length; i += 2) record[fields[i] as string] = fields[i + 1] as string
  if (record.v === undefined) return { ok: false, reason: 'missing schema version field v' }
  if (record.v !== WIRE_VERSION)
    return {
      ok: false,
      reason: `schema version v=${record.v} is not supported (this worker reads v=${WIRE_VERSION})`,
    }
  const garbled = FREE_TEXT.find((name) => record[name]?.includes(REPLACEMENT_CHARACTER))
  if (garbled !== undefined)
    return { ok: false, reason: `${garbled}: not valid UTF-8 (its bytes could not be read as text)` }
  const label = record.label
  if (label !== undefined && label !== 'true' && label !== 'false')
    return { ok: false, reason: `label: must be true or false, not ${JSON.stringify(label.slice(0, 40))}` }
  const candidate: Record<string, string | boolean> = {
    txn_id: record.txn_id as string,
    ts: record.ts as string,
    user_id: record.user_id as string,
    counterparty_id: record.counterparty_id as string,
    type: record.type as string,
    amount: record.amount as string,
    currency: record.currency as string,
  }
  // Absent optional fields stay absent, as zod leaves them, so stored rows and JSON carry no undefined keys.
  for (const name of OPTIONAL_TEXT) {
    const value = record[name]
    if (value !== undefined) candidate[name] = value
  }
  if (label !== undefined) candidate.label = label === 'true'
  let txn: Transaction
  if (passesFastChecks(record)) txn = candidate as Transaction
  else {
    const parsed = Transaction.safeParse(candidate)
    if (!parsed.success) return { ok: false, reason: describeIssues(parsed.error) }
    txn = parsed.data
  }
  const outside = outsideWindow(txn.ts, window, now)
  if (outside !== undefined) return { ok: false, reason: outside, outsideWindow: txn }
  const apiKey = record[API_KEY]
  if (apiKey === undefined) return { ok: true, txn }
  const key = decodeApiKey(apiKey)
  return key.ok ? { ok: true, txn, apiKeyId: key.id } : key
}

function passesFastChecks(r: Record<string, string | undefined>): boolean {
  const { txn_id, ts, amount, currency, type, source_ip } = r
  return (
    txn_id !== undefined &&
    uuidPattern.test(txn_id) &&
    ts !== undefined &&
    datetimePattern.test(ts) &&
    !TS_FRACTION_TOO_LONG.test(ts) &&
    !TS_OFFSET_TOO_FAR.test(ts) &&
    text(r.user_id, 128) &&
    text(r.counterparty_id, 128) &&
    type !== undefined &&
    types.has(type) &&
    amount !== undefined &&
    moneyPattern.test(amount) &&
    Number(amount) > 0 &&
    currency !== undefined &&
    currencyPattern.test(currency) &&
    optionalText(r.merchant_type, 64) &&
    optionalText(r.device_id, 128) &&
    (source_ip === undefined || isIpAddress(source_ip)) &&
    optionalMoney(r.balance_before) &&
    optionalMoney(r.balance_after) &&
    optionalMoney(r.cp_balance_before) &&
    optionalMoney(r.cp_balance_after)
  )
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || 'entry'}: ${issue.message}`)
    .join('; ')
}
