import type { Redis } from 'ioredis'
import type { DeadLetterEntry, DeadLetterList } from '../../shared/pipeline-contract'
import { deadLetterStream, type StreamLayout } from './partitioning'
import type { DeadLetter } from './redis-stream'

/**
 * The dead letters an operator reads: the newest entries of the team's dead-letter stream, or in Local
 * mode the lines the sample replay refused since the app started (kept in memory, the newest 500).
 */

/** A field value longer than this is cut: the list is for reading, the stream keeps the original. */
const SHOWN_VALUE = 2000
/** The fields the worker adds to the original message (RedisStreams.settle). */
const ADDED = new Set(['dead_reason', 'dead_partition', 'dead_id'])

/**
 * A field as shown. One read from Redis is bytes, cut before it becomes text: a letter keeps the
 * original message, whose field may be longer than a JavaScript string can be (RedisStreams).
 */
function shown(value: string | Buffer): string {
  if (typeof value === 'string')
    return value.length > SHOWN_VALUE ? `${value.slice(0, SHOWN_VALUE)}… (${value.length} characters)` : value
  // Whole characters (at most 4 bytes each) up to SHOWN_VALUE, and one more to tell a cut.
  const head = value.subarray(0, SHOWN_VALUE * 4 + 4).toString()
  return head.length > SHOWN_VALUE || value.length > SHOWN_VALUE * 4 + 4
    ? `${head.slice(0, SHOWN_VALUE)}… (${value.length} bytes)`
    : head
}

/** A stream entry id's first part is the time Redis added it, in ms. */
const timeOfId = (id: string) => {
  const ms = Number(id.split('-')[0])
  return Number.isFinite(ms) ? new Date(ms).toISOString() : new Date(0).toISOString()
}

export function entryOfStream(id: string, flat: readonly (string | Buffer)[]): DeadLetterEntry {
  const fields: { name: string; value: string }[] = []
  const added = new Map<string, string>()
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = shown(flat[i] as string | Buffer)
    const value = flat[i + 1] as string | Buffer
    // The worker's own fields, whole; a producer may have sent one of these names too, of any length.
    if (ADDED.has(name)) added.set(name, value.length > SHOWN_VALUE * 8 ? shown(value) : value.toString())
    else fields.push({ name, value: shown(value) })
  }
  const partition = Number(added.get('dead_partition'))
  return {
    id,
    at: timeOfId(id),
    reason: added.get('dead_reason') ?? 'no reason recorded',
    partition: Number.isInteger(partition) && partition >= 0 ? partition : null,
    originalId: added.get('dead_id') ?? null,
    fields,
  }
}

export async function readDeadLetterStream(
  redis: Redis,
  layout: StreamLayout,
  limit: number,
): Promise<DeadLetterList> {
  const key = deadLetterStream(layout)
  const [total, newest] = await Promise.all([
    redis.xlen(key),
    redis.xrevrangeBuffer(key, '+', '-', 'COUNT', limit),
  ])
  return { total, entries: newest.map(([id, fields]) => entryOfStream(id.toString('latin1'), fields)) }
}

/** Local mode: the refused lines, newest last, as the worker reported them. */
export class RecentDeadLetters {
  private readonly letters: DeadLetterEntry[] = []
  private count = 0

  constructor(private readonly keep = 500) {}

  add(letter: DeadLetter): void {
    this.count++
    this.letters.push({
      id: letter.id,
      at: new Date().toISOString(),
      reason: letter.reason,
      partition: letter.partition,
      originalId: letter.id,
      fields: entryOfStream(letter.id, letter.fields).fields,
    })
    if (this.letters.length > this.keep) this.letters.shift()
  }

  list(limit: number): DeadLetterList {
    return { total: this.count, entries: this.letters.slice(-limit).reverse() }
  }
}
