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

/**
 * An instant to the microsecond, as PostgreSQL's timestamptz keeps it (it rounds a longer fraction):
 * `…:00.1231Z` and `…:00.1239Z` are two instants there, one in milliseconds.
 */
function canonicalInstant(value: string): string {
  const fraction = /\.(\d+)/.exec(value)?.[1] ?? ''
  let ms = Date.parse(value.replace(/\.\d+/, ''))
  let micros = fraction === '' ? 0 : Math.round(Number(`0.${fraction}`) * 1_000_000)
  if (micros === 1_000_000) {
    ms += 1000
    micros = 0
  }
  return `${ms}+${micros}`
}

/**
 * An address as PostgreSQL's inet compares it: an IPv6 address in its groups' values, whatever the
 * spelling (`2001:0db8:0:0:0:0:0:7` is `2001:db8::7`, an embedded IPv4 address is two groups).
 */
export function canonicalIp(value: string): string {
  if (!value.includes(':')) return value
  const [head = '', tail] = value.toLowerCase().split('::')
  const groups = (part: string) =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)]
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number)
          return [a * 256 + b, c * 256 + d]
        })
  const front = groups(head)
  const back = tail === undefined ? [] : groups(tail)
  const zeros = Array.from({ length: Math.max(0, 8 - front.length - back.length) }, () => 0)
  return [...front, ...(tail === undefined ? [] : zeros), ...back]
    .map((group) => group.toString(16))
    .join(':')
}

/** A field's value in one spelling: an instant for ts, an address for an IP, canonical money; absent is null. */
export function canonicalContent(name: ContentField, value: unknown): string | number | boolean | null {
  if (value === undefined || value === null) return null
  if (value instanceof Date) return name === 'ts' ? `${value.getTime()}+0` : value.toISOString()
  if (typeof value !== 'string') return typeof value === 'boolean' || typeof value === 'number' ? value : null
  if (name === 'ts') return canonicalInstant(value)
  if (name === 'source_ip') return canonicalIp(value)
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
