import { z } from 'zod'

/** One transaction shape everywhere: stream, store, DuckDB, UI (shared/design/DATA.md). */

export const TRANSACTION_TYPES = ['PAYMENT', 'TRANSFER', 'CASH_OUT', 'CASH_IN', 'DEBIT'] as const
export const TransactionType = z.enum(TRANSACTION_TYPES)
export type TransactionType = z.infer<typeof TransactionType>

/** A decimal with at most 2 places, carried as a string so money is never a float. */
export const Money = z
  .string()
  .max(20)
  .regex(/^-?\d{1,16}(\.\d{1,2})?$/, 'a decimal number with at most 2 decimal places, such as 181.00')

export const PositiveMoney = Money.refine((value) => Number(value) > 0, 'must be greater than 0')

/**
 * Free text refuses control characters (C0, DEL, C1): NUL is refused by PostgreSQL, which made one such
 * entry stop its batch, and the others break logs, CSV exports and the grid.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/
/**
 * Half of a UTF-16 surrogate pair without the other half: JSON and JavaScript strings can hold one, UTF-8
 * cannot (it reaches Redis and the store as U+FFFD), so such text would be accepted here and refused, or
 * stored changed, later.
 */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const PlainText = z
  .string()
  .refine(
    (value) => !CONTROL_CHARACTER.test(value),
    'must not contain control characters (such as NUL, tab or newline)',
  )
  .refine(
    (value) => !LONE_SURROGATE.test(value),
    'must be valid Unicode text (it holds half of a UTF-16 surrogate pair)',
  )

export const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const HEXTET = /^[0-9a-fA-F]{1,4}$/

/**
 * An IPv4 address in dotted decimal, or an IPv6 address as RFC 4291 writes it (eight groups, `::` once
 * for a run of zeros, an IPv4 address as the last two), which PostgreSQL's inet takes: a looser pattern
 * let `1:2` through to a refusal by the store, after the transaction was accepted.
 */
export function isIpAddress(value: string): boolean {
  if (value.length > 45) return false
  if (IPV4.test(value)) return true
  const halves = value.split('::')
  if (halves.length > 2) return false
  const groups = (half: string) => (half === '' ? [] : half.split(':'))
  const head = groups(halves[0] as string)
  const tail = halves.length === 2 ? groups(halves[1] as string) : []
  const all = [...head, ...tail]
  // An embedded IPv4 address ends the address (nothing after it, not even `::`) and counts as two groups.
  const last = halves.length === 2 ? tail[tail.length - 1] : head[head.length - 1]
  const v4 = last !== undefined && last.includes('.')
  if (v4 && !IPV4.test(last)) return false
  const hextets = v4 ? all.slice(0, -1) : all
  if (!hextets.every((group) => HEXTET.test(group))) return false
  const count = hextets.length + (v4 ? 2 : 0)
  return halves.length === 2 ? count <= 7 : count === 8
}

/** More digits than nanoseconds after the seconds: PostgreSQL refuses the longest (over ~100). */
export const TS_FRACTION_TOO_LONG = /\.\d{10}/
/** A UTC offset of 16 hours or more, which PostgreSQL refuses ("time zone displacement out of range"). */
export const TS_OFFSET_TOO_FAR = /[+-](1[6-9]|2\d):\d\d$/

export const Transaction = z.object({
  txn_id: z.uuid(),
  ts: z.iso
    .datetime({ offset: true })
    .refine((value) => !TS_FRACTION_TOO_LONG.test(value), 'at most 9 digits after the seconds')
    .refine((value) => !TS_OFFSET_TOO_FAR.test(value), 'a UTC offset within ±15:59'),
  user_id: PlainText.min(1).max(128),
  counterparty_id: PlainText.min(1).max(128),
  type: TransactionType,
  amount: PositiveMoney,
  currency: z
    .string()
    .length(3, 'an ISO 4217 code such as USD')
    .regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as USD'),
  merchant_type: PlainText.max(64).optional(),
  source_ip: z.string().max(45).refine(isIpAddress, 'an IPv4 or IPv6 address').optional(),
  device_id: PlainText.max(128).optional(),
  balance_before: Money.optional(),
  balance_after: Money.optional(),
  cp_balance_before: Money.optional(),
  cp_balance_after: Money.optional(),
  /** Ground truth where known (PaySim isFraud): for evaluation only, never a scoring input. */
  label: z.boolean().optional(),
})
export type Transaction = z.infer<typeof Transaction>

export const Decision = z.enum(['approve', 'review', 'block'])
export type Decision = z.infer<typeof Decision>

/** Why a rule fired, in plain words with the values that made it fire. */
export const Reason = z.object({
  rule: z.string(),
  /** e.g. "14 transfers in 1 h, usual is 2" */
  text: z.string(),
  weight: z.number(),
  values: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
})
export type Reason = z.infer<typeof Reason>

export const Score = z.object({
  score: z.number().int().min(0).max(100),
  decision: Decision,
  reasons: z.array(Reason),
  model_version: z.string(),
  rules_version: z.number().int(),
})
export type Score = z.infer<typeof Score>
