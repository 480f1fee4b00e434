import type { ListKind } from '../../shared/rules'

/**
 * Blocklists. An IP is compared by its key: '4' + 8 hex digits for IPv4, '6' + 32 hex digits for IPv6
 * (fully expanded). Within a family the keys sort as the addresses do, so a CIDR network is the key range
 * [lo, hi], and the same keys are built in SQL by the backtest (analysis/rules-sql.ts), which has no inet
 * extension offline. IPv4-mapped IPv6 (::ffff:1.2.3.4) is an IPv6 address, as in PostgreSQL's inet.
 */

export interface ListEntry {
  kind: ListKind
  value: string
  /** An entry that expired at or before `now` no longer applies. */
  expires_at?: string | Date | null
}

export interface ListMatcher {
  isListed(kind: 'user' | 'counterparty' | 'device', value: string): boolean
  isIpListed(ip: string): boolean
}

export interface IpRange {
  lo: string
  hi: string
}

const IP_CACHE_SIZE = 65_536
const IPV6_CHARS = /^[0-9a-f:.]+$/
const DOTTED_TAIL = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/
const HEXTET = /^[0-9a-f]{1,4}$/

function octets(parts: readonly (string | undefined)[]): number[] | null {
  const values = parts.map(Number)
  return values.every((value) => value <= 255) ? values : null
}

/** An IPv4 address read digit by digit (the scorer's hot path), or null. */
function ipv4Key(ip: string): string | null {
  let key = '4'
  let value = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i <= ip.length; i++) {
    const code = i < ip.length ? ip.charCodeAt(i) : 46
    if (code >= 48 && code <= 57) {
      if (++digits > 3) return null
      value = value * 10 + code - 48
    } else if (code === 46) {
      if (digits === 0 || value > 255 || ++dots > 4) return null
      key += value < 16 ? `0${value.toString(16)}` : value.toString(16)
      value = 0
      digits = 0
    } else return null
  }
  return dots === 4 ? key : null
}

/** The comparable key of an IP address, or null if it is not one. */
export function ipKey(ip: string): string | null {
  if (!ip.includes(':')) return ipv4Key(ip)
  let text = ip.toLowerCase()
  if (!text.includes(':') || !IPV6_CHARS.test(text)) return null
  if (text.includes('.')) {
    const tail = DOTTED_TAIL.exec(text)
    const bytes = tail && octets(tail.slice(2))
    if (!tail || !bytes) return null
    const [a = 0, b = 0, c = 0, d = 0] = bytes
    text = `${tail[1]}${(a * 256 + b).toString(16)}:${(c * 256 + d).toString(16)}`
  }
  const halves = text.split('::')
  let groups: string[]
  if (halves.length === 1) groups = text.split(':')
  else if (halves.length === 2) {
    const head = halves[0] ? halves[0].split(':') : []
    const tail = halves[1] ? halves[1].split(':') : []
    if (head.length + tail.length > 7) return null
    groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail]
  } else return null
  if (groups.length !== 8 || !groups.every((group) => HEXTET.test(group))) return null
  return `6${groups.map((group) => group.padStart(4, '0')).join('')}`
}

/** The key range of a network in CIDR notation ('10.0.0.0/8', '2001:db8::/32') or of one address. */
export function ipNetworkRange(network: string): IpRange | null {
  const [address = '', prefix, extra] = network.trim().split('/')
  if (extra !== undefined) return null
  const key = ipKey(address)
  if (!key) return null
  const bits = key.startsWith('4') ? 32 : 128
  if (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) return null
  const length = prefix === undefined ? bits : Number(prefix)
  if (length > bits) return null
  const hostMask = (1n << BigInt(bits - length)) - 1n
  const value = BigInt(`0x${key.slice(1)}`)
  const hex = (n: bigint) => `${key[0]}${n.toString(16).padStart(bits / 4, '0')}`
  return { lo: hex(value & ~hostMask), hi: hex(value | hostMask) }
}

/** Entries still in force at `now`. */
export function activeListEntries(entries: readonly ListEntry[], now: Date = new Date()): ListEntry[] {
  const at = now.getTime()
  return entries.filter((entry) => {
    if (entry.expires_at === undefined || entry.expires_at === null) return true
    return new Date(entry.expires_at).getTime() > at
  })
}

/** Sorted, non-overlapping key ranges of the ip entries; throws on an entry that is not an IP or network. */
export function ipRanges(entries: readonly ListEntry[]): IpRange[] {
  const ranges = entries
    .filter((entry) => entry.kind === 'ip')
    .map((entry) => {
      const range = ipNetworkRange(entry.value)
      if (!range) throw new Error(`blocklist entry "${entry.value}" is not an IP address or CIDR network`)
      return range
    })
    .sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0))
  const merged: IpRange[] = []
  for (const range of ranges) {
    const last = merged[merged.length - 1]
    if (last && range.lo <= last.hi) {
      if (range.hi > last.hi) last.hi = range.hi
    } else merged.push({ ...range })
  }
  return merged
}

/** A matcher over the entries in force at `now` (by default, the moment it is built). */
export function createListMatcher(entries: readonly ListEntry[], now?: Date): ListMatcher {
  const active = activeListEntries(entries, now)
  const sets = {
    user: new Set<string>(),
    counterparty: new Set<string>(),
    device: new Set<string>(),
  }
  for (const entry of active) if (entry.kind !== 'ip') sets[entry.kind].add(entry.value)
  const ranges = ipRanges(active)
  const listed = (ip: string) => {
    const key = ipKey(ip)
    if (key === null) return false
    let low = 0
    let high = ranges.length - 1
    while (low <= high) {
      const middle = (low + high) >> 1
      const range = ranges[middle] as IpRange
      if (key < range.lo) high = middle - 1
      else if (key > range.hi) low = middle + 1
      else return true
    }
    return false
  }
  // The same few addresses come back again and again; a bounded cache saves parsing them each time.
  const seen = new Map<string, boolean>()
  return {
    isListed: (kind, value) => sets[kind].has(value),
    isIpListed(ip) {
      if (ranges.length === 0) return false
      let hit = seen.get(ip)
      if (hit === undefined) {
        if (seen.size >= IP_CACHE_SIZE) seen.clear()
        hit = listed(ip)
        seen.set(ip, hit)
      }
      return hit
    },
  }
}
