import type { Transaction } from '../../shared/transaction'

/**
 * Per-user features in event time. A transaction's features reflect all of that user's earlier
 * transactions (in the order they are scored), never itself; then the transaction joins the state.
 *
 * Event time is clamped per user: a transaction whose ts is earlier than the user's latest is scored at
 * that latest time. The state therefore only moves forward, a late event never needs history the state
 * has already forgotten, and a backtest that orders by source position (rules-sql.ts) gives the same
 * answer as a replay of the same file.
 *
 * Memory per user is bounded (MEMORY); the SQL backtest mirrors each bound exactly.
 */

export const STATE_VERSION = 1

export const MEMORY = {
  /** Earlier transactions kept for velocity: the most recent ones within 24 h. Counts and sums over a
   * window saturate at this many transactions. */
  recentTransactions: 512,
  /** The counterparty, device and IP of this many of the user's latest transactions: one not used in
   * the user's last 256 transactions counts as new again. */
  recentValues: 256,
} as const

export const WINDOW_MS = { '1m': 60_000, '1h': 3_600_000, '24h': 86_400_000 } as const

/** Plain JSON (stored as jsonb per user), so a new owner of the user's partition carries on exactly. */
export type UserState = {
  v: typeof STATE_VERSION
  /** Number of earlier transactions. */
  n: number
  /** Event time (ms) of the latest transaction; meaningless while n is 0. */
  lastMs: number
  /** Welford running mean and sum of squared deviations of the amounts, in currency units. */
  mean: number
  m2: number
  /** Event times (ms) and amounts (cents) of recent transactions, oldest first. */
  recentMs: number[]
  recentCents: number[]
  /** Of the latest MEMORY.recentValues transactions, oldest first (null: none given). IPs as written. */
  counterparties: string[]
  devices: (string | null)[]
  ips: (string | null)[]
}

export function emptyUserState(): UserState {
  return {
    v: STATE_VERSION,
    n: 0,
    lastMs: 0,
    mean: 0,
    m2: 0,
    recentMs: [],
    recentCents: [],
    counterparties: [],
    devices: [],
    ips: [],
  }
}

export interface Features {
  /** Event time used for windows (ms), after clamping. */
  eventMs: number
  /** Earlier transactions of this user. */
  history: number
  /** Earlier transactions in (eventMs - window, eventMs], and their sums in cents. */
  count1m: number
  sum1mCents: number
  count1h: number
  sum1hCents: number
  count24h: number
  sum24hCents: number
  /** Of the earlier amounts: null without history (mean) or with fewer than 2 (standard deviation). */
  meanAmount: number | null
  stddevAmount: number | null
  newCounterparty: boolean
  /** null when the transaction has no device / IP. */
  newDevice: boolean | null
  newIp: boolean | null
}

/**
 * Whether `value` occurs among the recent ones; then remembers it as the latest. A value seen before is
 * remembered as the string already held (equal, so nothing a feature reads changes): the entry's own copy
 * dies young instead of living in the state, and in the worker's old generation, until 256 more come.
 */
function remember<T extends string | null>(recent: T[], value: T): boolean {
  const at = value === null ? -1 : recent.lastIndexOf(value)
  recent.push(at >= 0 ? (recent[at] as T) : value)
  if (recent.length > MEMORY.recentValues) recent.shift()
  return at >= 0
}

/**
 * The features of `txn` against `state`, then `state` advanced past `txn` (in place: the scorer runs per
 * transaction and must not copy a user's history each time).
 */
export function advanceUserState(state: UserState, txn: Transaction, amountCents: number): Features {
  const tsMs = Date.parse(txn.ts)
  const eventMs = state.n > 0 && state.lastMs > tsMs ? state.lastMs : tsMs

  const { recentMs, recentCents } = state
  let expired = 0
  while (expired < recentMs.length && (recentMs[expired] as number) <= eventMs - WINDOW_MS['24h']) expired++
  if (expired > 0) {
    recentMs.splice(0, expired)
    recentCents.splice(0, expired)
  }
  let count1m = 0
  let sum1mCents = 0
  let count1h = 0
  let sum1hCents = 0
  let sum24hCents = 0
  for (let i = recentMs.length - 1; i >= 0; i--) {
    const ms = recentMs[i] as number
    const cents = recentCents[i] as number
    sum24hCents += cents
    if (ms > eventMs - WINDOW_MS['1h']) {
      count1h++
      sum1hCents += cents
      if (ms > eventMs - WINDOW_MS['1m']) {
        count1m++
        sum1mCents += cents
      }
    }
  }

  const history = state.n
  // Every transaction takes a slot, with or without a device or IP, so "recent" means the same for all.
  const knownDevice = remember(state.devices, txn.device_id ?? null)
  const knownIp = remember(state.ips, txn.source_ip ?? null)
  const features: Features = {
    eventMs,
    history,
    count1m,
    sum1mCents,
    count1h,
    sum1hCents,
    count24h: recentMs.length,
    sum24hCents,
    meanAmount: history > 0 ? state.mean : null,
    stddevAmount: history > 1 ? Math.sqrt(state.m2 / (history - 1)) : null,
    newCounterparty: !remember(state.counterparties, txn.counterparty_id),
    newDevice: txn.device_id === undefined ? null : !knownDevice,
    newIp: txn.source_ip === undefined ? null : !knownIp,
  }

  recentMs.push(eventMs)
  recentCents.push(amountCents)
  if (recentMs.length > MEMORY.recentTransactions) {
    recentMs.shift()
    recentCents.shift()
  }
  const amount = amountCents / 100
  state.n = history + 1
  const delta = amount - state.mean
  state.mean += delta / state.n
  state.m2 += delta * (amount - state.mean)
  state.lastMs = eventMs
  return features
}
