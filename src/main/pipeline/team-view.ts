import type { Redis } from 'ioredis'
import { sql } from 'kysely'
import type { PipelineTeam } from '../../shared/pipeline-contract'
import type { Store } from '../store/store'
import {
  CONSUMER_GROUP,
  membersKey,
  partitionLease,
  partitionStream,
  type StreamLayout,
} from './partitioning'

/**
 * The whole team's pipeline, as Pipeline health shows it: every worker in the group (alive or not, the
 * partitions it holds, how fast they are read), lag and pending per partition from Redis, and the rows
 * stored from the store itself — not one workstation's own worker's counters.
 *
 * Rates are the growth of each partition's `entries-read` (XINFO GROUPS, Redis 7) between two looks, so
 * they need two looks a few seconds apart; a worker's rate is the sum over the partitions it holds.
 */

/** Up to this many rows the store's count is exact; beyond, PostgreSQL's estimate (marked as such). */
const EXACT_COUNT_ROWS = 1_000_000
/** The stored count is read at most this often (a count of a large table is not free). */
const STORED_EVERY_MS = 5_000

type Sample = { at: number; read: (number | null)[] }

export class TeamView {
  private previous: Sample | undefined
  private stored: { at: number; value: PipelineTeam['stored'] } | undefined

  constructor(
    private readonly redis: Redis | undefined,
    private readonly layout: StreamLayout,
    private readonly store: Store | undefined,
    private readonly me: string | null,
  ) {}

  /** Rows in the store: exact while cheap, PostgreSQL's estimate on a large table. */
  async storedRows(): Promise<PipelineTeam['stored']> {
    const now = Date.now()
    if (this.stored !== undefined && now - this.stored.at < STORED_EVERY_MS) return this.stored.value
    if (this.store === undefined) return null
    const db = this.store.db
    let value: PipelineTeam['stored']
    try {
      const estimate = await sql<{ n: number | string | null }>`
        SELECT reltuples::bigint AS n FROM pg_class WHERE oid = to_regclass('transactions')`.execute(db)
      const estimated = Number(estimate.rows[0]?.n ?? -1)
      if (estimated > EXACT_COUNT_ROWS) value = { count: Math.round(estimated), approximate: true }
      else {
        const exact = await sql<{ n: number | string }>`SELECT count(*) AS n FROM transactions`.execute(db)
        value = { count: Number(exact.rows[0]?.n ?? 0), approximate: false }
      }
    } catch {
      value = null
    }
    this.stored = { at: now, value }
    return value
  }

  async read(): Promise<PipelineTeam> {
    const stored = await this.storedRows()
    if (this.redis === undefined)
      return { workers: [], partitions: [], ratePerSecond: null, stored, at: new Date().toISOString() }
    const partitions = Array.from({ length: this.layout.partitions }, (_, p) => p)
    const pipeline = this.redis.pipeline()
    pipeline.time()
    pipeline.zrange(membersKey(this.layout), 0, -1, 'WITHSCORES')
    pipeline.mget(...partitions.map((p) => partitionLease(this.layout, p)))
    for (const p of partitions) {
      pipeline.call('XINFO', 'GROUPS', partitionStream(this.layout, p))
      pipeline.xlen(partitionStream(this.layout, p))
    }
    const results = (await pipeline.exec()) ?? []
    const failed = results.find(([error], index) => error !== null && index < 3)
    if (failed) throw failed[0] as Error
    const [seconds, micros] = (results[0]?.[1] ?? ['0', '0']) as [string, string]
    const serverNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
    const flatMembers = (results[1]?.[1] ?? []) as string[]
    const members = new Map<string, number>()
    for (let i = 0; i + 1 < flatMembers.length; i += 2)
      members.set(flatMembers[i] as string, Number(flatMembers[i + 1]))
    const leases = (results[2]?.[1] ?? []) as (string | null)[]

    const now = Date.now()
    const sample: Sample = { at: now, read: [] }
    const rows = partitions.map((partition) => {
      const [groupsError, groups] = results[3 + partition * 2] ?? [null, []]
      const length = Number(results[4 + partition * 2]?.[1] ?? 0)
      const group =
        groupsError === null
          ? (groups as unknown[][]).map(pairs).find((info) => info.get('name') === CONSUMER_GROUP)
          : undefined
      const entriesRead = group?.get('entries-read')
      const read = entriesRead === null || entriesRead === undefined ? null : Number(entriesRead)
      sample.read.push(read)
      const before = this.previous?.read[partition]
      const seconds = this.previous === undefined ? 0 : (now - this.previous.at) / 1000
      const rate =
        read !== null && before !== null && before !== undefined && seconds >= 0.5
          ? Math.max(0, (read - before) / seconds)
          : null
      const lease = leases[partition] ?? null
      const lag = group?.get('lag')
      return {
        partition,
        owner: lease === null ? null : lease.slice(0, lease.lastIndexOf('/')),
        lag: group === undefined ? length : lag === null || lag === undefined ? null : Number(lag),
        pending: group === undefined ? 0 : Number(group.get('pending') ?? 0),
        length,
        ratePerSecond: rate,
      }
    })
    // A look less than half a second after the last one keeps the last one as the base.
    if (this.previous === undefined || now - this.previous.at >= 500) this.previous = sample

    const ids = new Set([
      ...members.keys(),
      ...rows.flatMap((row) => (row.owner === null ? [] : [row.owner])),
    ])
    const workers = [...ids].sort().map((id) => {
      const held = rows.filter((row) => row.owner === id)
      const rates = held.map((row) => row.ratePerSecond)
      return {
        id,
        alive: (members.get(id) ?? 0) > serverNow,
        mine: id === this.me,
        partitions: held.map((row) => row.partition),
        ratePerSecond: rates.some((rate) => rate === null)
          ? null
          : rates.reduce<number>((sum, rate) => sum + (rate ?? 0), 0),
      }
    })
    const rates = rows.map((row) => row.ratePerSecond)
    return {
      workers,
      partitions: rows,
      ratePerSecond: rates.some((rate) => rate === null)
        ? null
        : rates.reduce<number>((sum, rate) => sum + (rate ?? 0), 0),
      stored,
      at: new Date(now).toISOString(),
    }
  }
}

function pairs(flat: unknown[]): Map<string, unknown> {
  const map = new Map<string, unknown>()
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), flat[i + 1])
  return map
}
