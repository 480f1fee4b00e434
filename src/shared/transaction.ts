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
const PlainText = z
  .string()
  .refine(
    (value) => !CONTROL_CHARACTER.test(value),
    'must not contain control characters (such as NUL, tab or newline)',
  )

const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const ipv6 = /^[0-9a-fA-F:.]{2,45}$/

export const Transaction = z.object({
  txn_id: z.uuid(),
  ts: z.iso.datetime({ offset: true }),
  user_id: PlainText.min(1).max(128),
  counterparty_id: PlainText.min(1).max(128),
  type: TransactionType,
  amount: PositiveMoney,
  currency: z
    .string()
    .length(3, 'an ISO 4217 code such as USD')
    .regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as USD'),
  merchant_type: PlainText.max(64).optional(),
  source_ip: z
    .string()
    .max(45)
    .refine(
      (value) => ipv4.test(value) || (value.includes(':') && ipv6.test(value)),
      'an IPv4 or IPv6 address',
    )
    .optional(),
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
