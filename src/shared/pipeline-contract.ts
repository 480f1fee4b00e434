import { eventIterator } from '@orpc/contract'
import { z } from 'zod'
import { base as errors } from './errors'

/**
 * The ingestion pipeline as the UI sees it: the embedded worker of a Team profile (a member of the
 * team's consumer group) or the Local sample replay into the embedded store.
 */

const count = z.number().int().min(0)

export const PipelinePartition = z.object({
  partition: z.number().int().min(0),
  /** The worker holding the partition's lease, or null. */
  owner: z.string().nullable(),
  /** Held by this workstation's worker. */
  mine: z.boolean(),
  /** Entries not yet delivered to any worker; null when Redis cannot tell. */
  lag: z.number().int().nullable(),
  /** Delivered but not yet committed and acknowledged. */
  pending: count,
})
export type PipelinePartition = z.infer<typeof PipelinePartition>

/** The whole team's pipeline (every worker of the group, every partition), not one worker's view. */
export const PipelineTeam = z.object({
  workers: z.array(
    z.object({
      id: z.string(),
      /** Heartbeating in the group now. */
      alive: z.boolean(),
      /** This workstation's own worker. */
      mine: z.boolean(),
      partitions: z.array(z.number().int().min(0)),
      /** Entries its partitions were read at, per second; null until two looks tell. */
      ratePerSecond: z.number().min(0).nullable(),
    }),
  ),
  partitions: z.array(
    z.object({
      partition: z.number().int().min(0),
      owner: z.string().nullable(),
      lag: z.number().int().nullable(),
      pending: count,
      length: count,
      ratePerSecond: z.number().min(0).nullable(),
    }),
  ),
  /** The whole group's read rate per second; null until two looks tell. */
  ratePerSecond: z.number().min(0).nullable(),
  /** Transactions in the store, from the store (an estimate on a large table); null if unreadable. */
  stored: z.object({ count, approximate: z.boolean() }).nullable(),
  at: z.string(),
})
export type PipelineTeam = z.infer<typeof PipelineTeam>

export const PipelineStatus = z.object({
  /**
   * off: no pipeline (starting up, or the store is not open). waiting: a service is unreachable or the
   * schema is missing; the worker retries by itself and `message` says why. finished: a file replay
   * reached its end.
   */
  state: z.enum(['off', 'starting', 'running', 'paused', 'waiting', 'finished', 'error']),
  mode: z.enum(['local', 'team']),
  /** What is being consumed, in words: "Redis streams aether:tx (8 partitions)". */
  source: z.string(),
  workerId: z.string().nullable(),
  /** Transactions stored per second over the last few seconds. */
  ratePerSecond: z.number().min(0),
  counts: z.object({
    stored: count,
    /** Already stored (a redelivery or a producer's retry): acknowledged, changed nothing. */
    duplicates: count,
    /**
     * Re-read entries this or another worker had stored already (after a crash, a takeover or a Redis
     * that lost its acknowledgements): acknowledged, changed nothing, and not a producer's duplicate.
     */
    redelivered: count.optional(),
    /**
     * Entries this worker found gone when it re-read what was pending (deleted from the stream by hand,
     * XDEL, or trimmed by another client, after delivery and before being stored): never stored.
     */
    deletedWhilePending: count.optional(),
    /** Refused messages this worker sent to the dead-letter stream, each with its reason. */
    deadLetters: count,
    alerts: count,
    errors: count,
  }),
  /**
   * This worker's dead letters by reason, a bounded set of names: invalid (the entry is not a valid
   * transaction), wrong_partition (on a partition its user does not belong to), conflicting_duplicate (a
   * stored txn_id with other content), refused_by_store (the store refused the row's data).
   */
  deadLettersByReason: z.record(z.string(), count).optional(),
  /**
   * Stream keys under the team's prefix that no worker reads (`tx:{p8}` with 8 partitions, `tx:p0`…),
   * with their length: whatever a producer wrote there is never scored. Team mode only.
   */
  strayStreams: z.array(z.object({ key: z.string(), length: count })).optional(),
  /**
   * The team's alerts stored while another session (an analyst's open transaction) held their user's
   * case locked: they join it when the lock goes. Team mode only.
   */
  alertsWaitingForCase: count.optional(),
  /** Entries in the team's dead-letter stream, from every worker; null in Local mode. */
  deadLetterTotal: count.nullable(),
  rulesVersion: z.number().int().nullable(),
  /** A file replay's place in its file. */
  progress: z.object({ done: count, total: count.nullable() }).nullable(),
  partitions: z.array(PipelinePartition),
  /** Why the pipeline waits or failed, in words the user can act on. */
  message: z.string().optional(),
  lastError: z.object({ message: z.string(), at: z.string() }).optional(),
  /** The whole team's pipeline (Team mode) or the store's own count (Local mode). */
  team: PipelineTeam.optional(),
  updatedAt: z.string(),
})
export type PipelineStatus = z.infer<typeof PipelineStatus>

/** A message the pipeline refused, as the dead-letter stream keeps it: the original fields and the reason. */
export const DeadLetterEntry = z.object({
  /** The dead-letter stream's entry id (Local mode: the file line). */
  id: z.string(),
  /** When it was refused. */
  at: z.string(),
  reason: z.string(),
  /** The partition and the entry id it came from; null where the message did not say. */
  partition: z.number().int().min(0).nullable(),
  originalId: z.string().nullable(),
  /** The message's own fields, in order; long values are cut at 2,000 characters. */
  fields: z.array(z.object({ name: z.string(), value: z.string() })),
})
export type DeadLetterEntry = z.infer<typeof DeadLetterEntry>

export const DeadLetterList = z.object({
  /** Entries in the dead-letter stream (Local mode: refused lines since the app started). */
  total: count,
  /** The newest first. */
  entries: z.array(DeadLetterEntry),
  /** Why the list is empty though there may be letters (no pipeline, Redis unreachable). */
  message: z.string().optional(),
})
export type DeadLetterList = z.infer<typeof DeadLetterList>

export const pipelineContract = {
  status: errors.output(PipelineStatus),
  /** Stops taking work; in Team mode the worker leaves the group so the team takes its partitions over. */
  pause: errors.output(PipelineStatus),
  resume: errors.output(PipelineStatus),
  /** The newest dead letters, so an operator can see what a producer gets wrong. */
  deadLetters: errors
    .input(z.object({ limit: z.number().int().min(1).max(500).default(100) }).optional())
    .output(DeadLetterList),
  /** The status now, then about once a second while it changes. */
  watchPipeline: errors.output(eventIterator(PipelineStatus)),
}
