import { canonicalIp } from '../pipeline/transaction-content'

/**
 * The address a client's failures are counted under: an IPv4 address itself (an IPv4-mapped IPv6 one as
 * IPv4), an IPv6 address by its /64, which one host holds whole (each of its 2^64 addresses would have
 * had a budget of its own).
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped !== null) return mapped[1] as string
  if (!ip.includes(':')) return ip
  try {
    return `${canonicalIp(ip).split(':').slice(0, 4).join(':')}::/64`
  } catch {
    return ip
  }
}

/**
 * Failed authentications per client address. A made-up key id is not in the key cache, so each one
 * costs a store read: a client sending random keys drove the gateway's key pool at its own request rate.
 * Past `max` failures in a window, an address's keys that are not already known to the gateway get 429
 * without a read until the window ends; keys the gateway knows (cached, valid) still pass, so producers
 * behind the same address (a proxy, a NAT) keep working while one of them misbehaves.
 *
 * Counted in this process: the store reads it saves are this gateway's own. Bounded: at most
 * `maxAddresses` addresses are followed, the oldest windows forgotten first.
 */
export class AuthFailures {
  private readonly windows = new Map<string, { count: number; endsAt: number }>()

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly maxAddresses = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until `address` may try unknown keys again; 0 while it is under its budget. */
  blockedFor(address: string): number {
    const window = this.windows.get(address)
    if (window === undefined) return 0
    const left = window.endsAt - this.now()
    if (left <= 0) {
      this.windows.delete(address)
      return 0
    }
    return window.count >= this.max ? left : 0
  }

  /**
   * Counts a key that failed, or one the gateway does not know before the store is asked about it:
   * requests sent together are each counted before any of them is answered (counted after the read,
   * 2,749 of 3,000 made-up keys sent at once were read against a budget of 20). One that turns out valid
   * is taken back (`succeeded`). True when it is the one that reaches the budget (worth a line in the log).
   */
  fail(address: string): boolean {
    const now = this.now()
    let window = this.windows.get(address)
    if (window === undefined || window.endsAt <= now) {
      this.windows.delete(address)
      window = { count: 0, endsAt: now + this.windowMs }
      if (this.windows.size >= this.maxAddresses) this.forgetOldest(now)
      this.windows.set(address, window)
    }
    window.count++
    return window.count === this.max
  }

  /** A key counted before its read that was valid after all: it does not count against the address. */
  succeeded(address: string) {
    const window = this.windows.get(address)
    if (window !== undefined && window.count > 0) window.count--
  }

  get addresses(): number {
    return this.windows.size
  }

  /** Ended windows first; then, the map being in insertion order, the windows that began longest ago. */
  private forgetOldest(now: number) {
    for (const [address, window] of this.windows) if (window.endsAt <= now) this.windows.delete(address)
    for (const address of this.windows.keys()) {
      if (this.windows.size < this.maxAddresses * 0.9) break
      this.windows.delete(address)
    }
  }
}
