import { randomBytes } from 'node:crypto'
import type { RedisStreams } from './redis-stream'

/**
 * Which worker owns which partition. Every worker heartbeats into one membership set; from the sorted
 * list of live members each computes the same assignment (partition p goes to member p mod M, so each
 * takes about N/M partitions). A partition is only taken with its lease (SET NX PX, renewed while held),
 * and only after its previous owner has given it back or its lease has expired.
 */

export function assignPartitions(members: readonly string[], me: string, partitions: number): Set<number> {
  const sorted = [...new Set(members)].sort()
  const index = sorted.indexOf(me)
  const mine = new Set<number>()
  if (index < 0) return mine
  for (let p = index; p < partitions; p += sorted.length) mine.add(p)
  return mine
}

export interface OwnershipTiming {
  /** How long a lease lives without renewal: a crashed worker's partitions wait this long. */
  leaseMs: number
  /** Heartbeat and renewal period. */
  heartbeatMs: number
}

export const DEFAULT_TIMING: OwnershipTiming = { leaseMs: 5000, heartbeatMs: 1000 }

/** A joining worker takes partitions after this many heartbeats at most, whatever the group does. */
const JOIN_HEARTBEATS_AT_MOST = 5

export interface Lease {
  token: string
  /** Local time until which the lease surely holds (renewed before it, less a margin). */
  validUntil: number
}

export class PartitionOwnership {
  /** Leases held, acquired or not yet taken over by the batch loop. */
  readonly leases = new Map<number, Lease>()
  /** Partitions whose lease is gone (expired, taken): dropped at the next batch boundary. */
  readonly lost = new Set<number>()
  private desired = new Set<number>()
  private timer: NodeJS.Timeout | undefined
  private ticking: Promise<void> | undefined
  private paused = false
  private stopped = false
  /** While joining (see tick): the members the last heartbeat saw, and how many heartbeats so far. */
  private joining: { seen: string | undefined; heartbeats: number } | undefined = {
    seen: undefined,
    heartbeats: 0,
  }
  /** Called after every heartbeat, so the loop can wake up for a change. */
  onChange: (() => void) | undefined
  problem: string | undefined

  constructor(
    private readonly streams: RedisStreams,
    private readonly partitions: number,
    private readonly timing: OwnershipTiming = DEFAULT_TIMING,
  ) {}

  start() {
    this.schedule(0)
  }

  private schedule(ms: number) {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => this.schedule(this.timing.heartbeatMs))
    }, ms)
  }

  /** Partitions this worker should hold and does not give up. */
  wanted(): Set<number> {
    return this.desired
  }

  setPaused(paused: boolean) {
    this.paused = paused
    if (paused) {
      this.desired = new Set()
      this.streams.leave().catch(() => {})
    }
  }

  private async tick(): Promise<void> {
    try {
      await this.renew()
      if (this.paused) return
      const members = await this.streams.heartbeat(this.timing.leaseMs)
      // Paused while the heartbeat was on its way: the worker wants nothing, and leaves again (the
      // heartbeat may have come after the leave).
      if (this.paused) {
        await this.streams.leave().catch(() => {})
        return
      }
      this.desired = assignPartitions(members, this.streams.consumer, this.partitions)
      // A worker that has just joined takes nothing until two heartbeats in a row see the same members:
      // workers started together (a deploy, a restart of the fleet) then see each other and split the
      // partitions at once, instead of the first taking them all and handing most of them over again.
      // A group that keeps changing does not hold it back for more than a few heartbeats.
      if (this.joining !== undefined) {
        const seen = [...new Set(members)].sort().join('\n')
        const settled = seen === this.joining.seen || this.joining.heartbeats >= JOIN_HEARTBEATS_AT_MOST
        this.joining = settled ? undefined : { seen, heartbeats: this.joining.heartbeats + 1 }
        if (!settled) return
      }
      for (const partition of this.desired) {
        if (this.leases.has(partition)) continue
        if (!(await this.streams.ensureGroup(partition))) continue
        const token = `${this.streams.consumer}/${randomBytes(6).toString('hex')}`
        const started = Date.now()
        if (await this.streams.acquireLease(partition, token, this.timing.leaseMs)) {
          this.leases.set(partition, { token, validUntil: started + this.timing.leaseMs - this.margin() })
          this.lost.delete(partition)
        }
      }
      this.problem = undefined
    } catch (error) {
      this.problem = `Redis: ${(error as Error).message}`
    } finally {
      this.onChange?.()
    }
  }

  private margin() {
    return Math.min(this.timing.heartbeatMs, this.timing.leaseMs / 3)
  }

  /** Renews every lease; one that cannot be renewed in time is lost, whatever the reason. */
  private async renew() {
    await Promise.all(
      [...this.leases].map(async ([partition, lease]) => {
        const started = Date.now()
        try {
          if (await this.streams.renewLease(partition, lease.token, this.timing.leaseMs))
            lease.validUntil = started + this.timing.leaseMs - this.margin()
          else this.lost.add(partition)
        } catch {
          if (Date.now() >= lease.validUntil) this.lost.add(partition)
        }
      }),
    )
  }

  /** Gives a lease back at once, so the next owner need not wait for it to expire. */
  async release(partition: number) {
    const lease = this.leases.get(partition)
    this.leases.delete(partition)
    this.lost.delete(partition)
    if (lease !== undefined) await this.streams.releaseLease(partition, lease.token).catch(() => {})
  }

  async stop() {
    this.stopped = true
    clearTimeout(this.timer)
    await this.ticking
    for (const partition of [...this.leases.keys()]) await this.release(partition)
    await this.streams.leave().catch(() => {})
  }
}
