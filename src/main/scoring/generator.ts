import { PAYSIM_EPOCH } from '../../shared/paysim'
import type { Transaction, TransactionType } from '../../shared/transaction'
import type { ListEntry } from './lists'
import { centsToMoney } from './money'

/**
 * PaySim-shaped traffic with injected fraud, for `aether replay`, tests and benchmarks. Pure and seeded:
 * the same options give the same transactions (ids included). Event time never goes backwards.
 *
 * Honest accounts pay their usual merchants, cash in and out through agents and transfer to each other,
 * from their own device and IP, with balances that add up. Injected patterns (label true):
 * - account_drain: a TRANSFER of the whole balance to a fresh mule (whose balance PaySim-style does not
 *   move), then the mule's CASH_OUT of all of it minutes later;
 * - velocity_burst: 12-20 transactions from one account within a few minutes;
 * - high_value: an account with history sends 30-80 times its usual amount to a new counterparty;
 * - blocklisted_ip: a transaction from a network in GENERATOR_BLOCKLIST;
 * - card_testing: 8-15 payments of 0.50-3.00 to different merchants from a new device, then a large one.
 */

export const FRAUD_PATTERNS = [
  'account_drain',
  'velocity_burst',
  'high_value',
  'blocklisted_ip',
  'card_testing',
] as const
export type FraudPattern = (typeof FRAUD_PATTERNS)[number]

/** The networks the blocklisted_ip pattern uses; load them as blocklist entries to have them blocked. */
export const GENERATOR_BLOCKLIST: readonly ListEntry[] = [
  { kind: 'ip', value: '203.0.113.0/24' },
  { kind: 'ip', value: '2001:db8:bad::/48' },
]

export interface TrafficOptions {
  seed: number
  /** Paying accounts (default 2,000); a few of them make most of the traffic, as in real data. */
  users?: number
  /** Event time of the first transaction (default PAYSIM_EPOCH). */
  start?: string
  /** Mean event-time gap between honest transactions, ms (default 250). */
  meanGapMs?: number
  /** Chance that an honest transaction is followed by a fraud pattern (default 0.003). */
  fraudRate?: number
  patterns?: readonly FraudPattern[]
}

export interface GeneratedTransaction {
  txn: Transaction
  /** The injected pattern this transaction belongs to, or null for honest traffic. */
  pattern: FraudPattern | null
}

/** mulberry32: small, fast, and good enough for synthetic traffic (and for seeded test inputs). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

interface Account {
  id: string
  index: number
  balanceCents: number
  /** Typical amount, cents. */
  scaleCents: number
  device: string
  ip: string
  merchants: string[]
}

interface Scheduled {
  ms: number
  make: () => GeneratedTransaction
}

export function* generateTraffic(options: TrafficOptions): Generator<GeneratedTransaction, never> {
  const next = seededRandom(options.seed)
  const userCount = Math.max(2, options.users ?? 20_000)
  const meanGapMs = options.meanGapMs ?? 1_000
  const fraudRate = options.fraudRate ?? 0.003
  const patterns = options.patterns ?? FRAUD_PATTERNS
  let clock = Date.parse(options.start ?? PAYSIM_EPOCH)
  let fresh = 0

  const int = (below: number) => Math.floor(next() * below)
  const between = (low: number, high: number) => low + next() * (high - low)
  /** Whole milliseconds, so a transaction's ts is exactly the time it is scheduled at. */
  const delay = (low: number, high: number) => Math.round(between(low, high))
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next())
  const hex8 = (word: number) => word.toString(16).padStart(8, '0')
  const word = () => Math.floor(next() * 4_294_967_296)
  /** A version 4 UUID made of the seeded randomness. */
  const uuid = () => {
    const a = hex8(word())
    const b = hex8(((word() & 0xffff0fff) | 0x4000) >>> 0)
    const c = hex8(((word() & 0x3fffffff) | 0x80000000) >>> 0)
    return `${a}-${b.slice(0, 4)}-${b.slice(4)}-${c.slice(0, 4)}-${c.slice(4)}${hex8(word())}`
  }
  const merchant = () => `M${100_000_000 + int(900_000_000)}`
  const honestIp = (index: number) =>
    index % 10 === 9 ? `2001:db8:1::${(index % 65_536).toString(16)}` : `198.51.100.${index % 256}`

  // Accounts come to life when first used, so a large population costs nothing up front.
  const accounts = new Map<number, Account>()
  const accountAt = (index: number): Account => {
    let found = accounts.get(index)
    if (!found) {
      found = {
        id: `C${1_000_000_000 + index * 7_919}`,
        index,
        balanceCents: Math.round(Math.exp(Math.log(500_000) + normal()) * 100),
        scaleCents: Math.max(500, Math.round(Math.exp(Math.log(20_000) + 0.8 * normal()))),
        device: `dev-${index}`,
        ip: honestIp(index),
        merchants: Array.from({ length: 3 + int(5) }, merchant),
      }
      accounts.set(index, found)
    }
    return found
  }
  const agents = Array.from({ length: 50 }, (_, index) => ({
    id: `C${2_000_000_000 + index}`,
    balanceCents: 50_000_000,
  }))

  /** Skewed toward low indexes, so some accounts are busy and most are occasional. */
  const someAccount = () => accountAt(Math.floor(userCount * next() ** 1.3))
  const amountFor = (account: Account, factor: number) =>
    Math.max(100, Math.round(account.scaleCents * factor * Math.exp(0.5 * normal())))

  const build = (
    ms: number,
    account: Account,
    type: TransactionType,
    amountCents: number,
    counterparty: { id: string; balanceCents?: number; moves?: boolean },
    extra: { device?: string; ip?: string; label: boolean },
  ): Transaction => {
    const before = account.balanceCents
    if (type === 'CASH_IN') account.balanceCents += amountCents
    // Honest accounts overdraw as PaySim's do (the balance floors at 0); an exact emptying is fraud's mark.
    else account.balanceCents = Math.max(0, before - amountCents)
    const cpBefore = counterparty.balanceCents ?? 0
    const cpAfter = counterparty.moves
      ? cpBefore + (type === 'CASH_IN' ? -amountCents : amountCents)
      : cpBefore
    return {
      txn_id: uuid(),
      ts: new Date(ms).toISOString(),
      user_id: account.id,
      counterparty_id: counterparty.id,
      type,
      amount: centsToMoney(amountCents),
      currency: 'USD',
      ...(type === 'PAYMENT' ? { merchant_type: 'retail' } : {}),
      source_ip: extra.ip ?? account.ip,
      device_id: extra.device ?? account.device,
      balance_before: centsToMoney(before),
      balance_after: centsToMoney(account.balanceCents),
      cp_balance_before: centsToMoney(Math.max(0, cpBefore)),
      cp_balance_after: centsToMoney(Math.max(0, cpAfter)),
      label: extra.label,
    }
  }

  const honest = (ms: number): GeneratedTransaction => {
    const payer = someAccount()
    const roll = next()
    // Now and then a second phone or a laptop: a few per account, so they are new only the first time.
    const device = next() < 0.05 ? `${payer.device}-${int(4)}` : undefined
    const extra = { device, ip: next() < 0.03 ? honestIp(int(4_096)) : undefined, label: false }
    let txn: Transaction
    if (roll < 0.4) {
      const payee = next() < 0.85 ? pick(payer.merchants) : merchant()
      let amount = amountFor(payer, 1)
      if (amount === payer.balanceCents) amount += 1
      txn = build(ms, payer, 'PAYMENT', amount, { id: payee }, extra)
    } else if (roll < 0.65) {
      const agent = pick(agents)
      let amount = amountFor(payer, 3)
      if (amount === payer.balanceCents) amount += 1
      txn = build(ms, payer, 'CASH_OUT', amount, { ...agent, moves: true }, extra)
      agent.balanceCents += amount
    } else if (roll < 0.88) {
      const agent = pick(agents)
      const amount = amountFor(payer, 4)
      txn = build(ms, payer, 'CASH_IN', amount, { ...agent, moves: true }, extra)
      agent.balanceCents -= amount
    } else if (roll < 0.98) {
      let payee = someAccount()
      if (payee === payer) payee = accountAt((payer.index + 1) % userCount)
      let amount = amountFor(payer, 2)
      if (amount === payer.balanceCents) amount += 1
      txn = build(
        ms,
        payer,
        'TRANSFER',
        amount,
        { id: payee.id, balanceCents: payee.balanceCents, moves: true },
        extra,
      )
      payee.balanceCents += amount
    } else {
      const amount = amountFor(payer, 0.5)
      txn = build(ms, payer, 'DEBIT', amount, { id: pick(agents).id }, extra)
    }
    return { txn, pattern: null }
  }

  const queue: Scheduled[] = []
  const schedule = (ms: number, make: () => GeneratedTransaction) => {
    const item = { ms, make }
    let index = queue.length
    while (index > 0 && (queue[index - 1] as Scheduled).ms > item.ms) index--
    queue.splice(index, 0, item)
  }

  const inject = (pattern: FraudPattern, at: number) => {
    switch (pattern) {
      case 'account_drain': {
        const victim = someAccount()
        const mule: Account = {
          id: `C${3_000_000_000 + fresh}`,
          index: -1 - fresh++,
          balanceCents: 0,
          scaleCents: 10_000,
          device: `dev-mule-${fresh}`,
          ip: honestIp(int(4_096)),
          merchants: [],
        }
        schedule(at, () => {
          if (victim.balanceCents < 100) victim.balanceCents += amountFor(victim, 10)
          const amount = victim.balanceCents
          const txn = build(at, victim, 'TRANSFER', amount, { id: mule.id, balanceCents: 0 }, { label: true })
          mule.balanceCents = amount
          return { txn, pattern }
        })
        const cashOutAt = at + delay(60_000, 600_000)
        schedule(cashOutAt, () => ({
          txn: build(cashOutAt, mule, 'CASH_OUT', mule.balanceCents, { ...pick(agents) }, { label: true }),
          pattern,
        }))
        return
      }
      case 'velocity_burst': {
        const account = someAccount()
        let ms = at
        for (let i = 12 + int(9); i > 0; i--) {
          const when = ms
          const type = next() < 0.7 ? 'PAYMENT' : 'TRANSFER'
          const cp = type === 'PAYMENT' ? { id: merchant() } : { id: someAccount().id }
          schedule(when, () => ({
            txn: build(when, account, type, amountFor(account, 1), cp, { label: true }),
            pattern,
          }))
          ms += delay(5_000, 40_000)
        }
        return
      }
      case 'high_value': {
        const account = someAccount()
        const payee = { id: `C${4_000_000_000 + fresh++}` }
        schedule(at, () => ({
          txn: build(at, account, 'TRANSFER', Math.round(account.scaleCents * between(30, 80)), payee, {
            label: true,
          }),
          pattern,
        }))
        return
      }
      case 'blocklisted_ip': {
        const account = someAccount()
        const ip =
          next() < 0.7
            ? `203.0.113.${int(256)}`
            : `2001:db8:bad:${int(65_536).toString(16)}::${int(65_536).toString(16)}`
        const payee = { id: merchant() }
        schedule(at, () => ({
          txn: build(at, account, 'PAYMENT', amountFor(account, 1), payee, { ip, label: true }),
          pattern,
        }))
        return
      }
      case 'card_testing': {
        const account = someAccount()
        const device = `dev-card-test-${fresh++}`
        let ms = at
        for (let i = 8 + int(8); i > 0; i--) {
          const when = ms
          const amount = Math.round(between(50, 300))
          schedule(when, () => ({
            txn: build(when, account, 'PAYMENT', amount, { id: merchant() }, { device, label: true }),
            pattern,
          }))
          ms += delay(3_000, 15_000)
        }
        const last = ms
        schedule(last, () => ({
          txn: build(
            last,
            account,
            'PAYMENT',
            amountFor(account, 20),
            { id: merchant() },
            { device, label: true },
          ),
          pattern,
        }))
        return
      }
    }
  }

  for (;;) {
    const gap = Math.round(-Math.log(1 - next()) * meanGapMs)
    const due = clock + gap
    while (queue.length > 0 && (queue[0] as Scheduled).ms <= due) {
      const item = queue.shift() as Scheduled
      clock = Math.max(clock, item.ms)
      yield item.make()
    }
    clock = due
    yield honest(clock)
    if (patterns.length > 0 && next() < fraudRate) inject(pick(patterns), clock + delay(1_000, 60_000))
  }
}

/** The first `count` transactions of generateTraffic(options). */
export function generateTransactions(options: TrafficOptions, count: number): GeneratedTransaction[] {
  const generated: GeneratedTransaction[] = []
  if (count <= 0) return generated
  for (const item of generateTraffic(options)) {
    generated.push(item)
    if (generated.length >= count) break
  }
  return generated
}
