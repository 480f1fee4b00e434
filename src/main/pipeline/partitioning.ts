/**
 * The stream layout shared by producers and workers (ARCHITECTURE.md, DATA.md): one stream per
 * partition, a user's transactions always on the same partition, so one owner at a time sees them in order.
 * Every key of a partition carries the same hash tag, so on Redis Cluster the stream and its lease live in
 * one slot and a script may touch both.
 */

export const DEFAULT_PREFIX = 'aether:'
export const DEFAULT_PARTITIONS = 8
export const CONSUMER_GROUP = 'aether-workers'
/** The version a producer writes in each entry's `v` field. */
export const WIRE_VERSION = '1'

export interface StreamLayout {
  prefix: string
  partitions: number
}

export const partitionStream = (layout: StreamLayout, partition: number) =>
  `${layout.prefix}tx:{p${partition}}`
export const partitionLease = (layout: StreamLayout, partition: number) =>
  `${layout.prefix}lease:{p${partition}}`
export const deadLetterStream = (layout: StreamLayout) => `${layout.prefix}tx:dead`
export const membersKey = (layout: StreamLayout) => `${layout.prefix}workers`
/** Where producers record the partition count, so a worker started with another count refuses to run. */
export const layoutKey = (layout: StreamLayout) => `${layout.prefix}tx:layout`
/** The name of the stream set in the store's partition table: one row per (source, partition). */
export const streamSource = (layout: StreamLayout) => `${layout.prefix}tx`

const encoder = new TextEncoder()

/**
 * FNV-1a (32 bit) over the UTF-8 bytes of the user id: stable across processes, versions and languages,
 * so any producer can compute it.
 */
export function partitionOf(userId: string, partitions: number): number {
  let hash = 0x811c9dc5
  let ascii = true
  for (let i = 0; i < userId.length; i++) {
    const code = userId.charCodeAt(i)
    if (code > 0x7f) {
      ascii = false
      break
    }
    hash = Math.imul(hash ^ code, 0x01000193)
  }
  if (!ascii) {
    hash = 0x811c9dc5
    for (const byte of encoder.encode(userId)) hash = Math.imul(hash ^ byte, 0x01000193)
  }
  return (hash >>> 0) % partitions
}

export function validateLayout(layout: StreamLayout): StreamLayout {
  if (!Number.isInteger(layout.partitions) || layout.partitions < 1 || layout.partitions > 1024)
    throw new Error(`The partition count must be a whole number from 1 to 1024, not ${layout.partitions}.`)
  if (!/^[\w:.-]{0,64}$/.test(layout.prefix))
    throw new Error(
      `The key prefix may hold letters, digits and _ : . - (64 at most), not ${JSON.stringify(layout.prefix)}.`,
    )
  return layout
}
