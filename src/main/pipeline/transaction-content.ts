import type { Transaction } from '../../shared/transaction'

/**
 * What makes two versions of one txn_id the same transaction, for the worker (a redelivery or a
 * producer's retry is dropped, other content is a conflicting duplicate) and the gateway (a repeat gets
 * the original decision, other content a 409) alike: the fields a producer sends, each compared by what
 * it means rather than how it is written.
 */
export const CONTENT_FIELDS = [
  'ts',
  'user_id',
  'counterparty_id',
  'type',
  'amount',
  'currency',
  'merchant_type',
  'source_ip',
  'device_id',
  'balance_before',
  'balance_after',
  'cp_balance_before',
  'cp_balance_after',
  'label',
] as const
export type ContentField = (typeof CONTENT_FIELDS)[number]

/** A decimal as a number means it: "181", "181.0" and "0181.00" are one amount. */
const canonicalMoney = (value: string) => {
  const [whole = '', fraction = ''] = value.replace(/^-/, '').split('.')
  const digits = `${whole.replace(/^0+(?=\d)/, '')}.${fraction.replace(/0+$/, '')}`
  return value.startsWith('-') && /[1-9]/.test(digits) ? `-${digits}` : digits
}

/** A field's value in one spelling: an instant for ts, lower case for an IP, canonical money; absent is null. */
export function canonicalContent(name: ContentField, value: unknown): string | number | boolean | null {
  if (value === undefined || value === null) return null
  if (value instanceof Date) return name === 'ts' ? value.getTime() : value.toISOString()
  if (typeof value !== 'string') return typeof value === 'boolean' || typeof value === 'number' ? value : null
  if (name === 'ts') return Date.parse(value)
  if (name === 'source_ip') return value.toLowerCase()
  if (name === 'amount' || name.includes('balance')) return canonicalMoney(value)
  return value
}

/** The content fields in which two versions differ. */
export function differingContent(a: Partial<Transaction>, b: Partial<Transaction>): ContentField[] {
  return CONTENT_FIELDS.filter((name) => canonicalContent(name, a[name]) !== canonicalContent(name, b[name]))
}

/** The content in one string, equal for two versions exactly when differingContent finds nothing. */
export function contentFingerprint(txn: Transaction): string {
  return JSON.stringify(CONTENT_FIELDS.map((name) => canonicalContent(name, txn[name])))
}
