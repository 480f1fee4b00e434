import { eventIterator, oc } from '@orpc/contract'
import { z } from 'zod'

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
    /** Refused messages this worker sent to the dead-letter stream, each with its reason. */
    deadLetters: count,
    alerts: count,
    errors: count,
  }),
  /** Entries in the team's dead-letter stream, from every worker; null in Local mode. */
  deadLetterTotal: count.nullable(),
  rulesVersion: z.number().int().nullable(),
  /** A file replay's place in its file. */
  progress: z.object({ done: count, total: count.nullable() }).nullable(),
  partitions: z.array(PipelinePartition),
  /** Why the pipeline waits or failed, in words the user can act on. */
  message: z.string().optional(),
  lastError: z.object({ message: z.string(), at: z.string() }).optional(),
  updatedAt: z.string(),
})
export type PipelineStatus = z.infer<typeof PipelineStatus>

const errors = oc.errors({
  NOT_FOUND: { message: 'Not found' },
  CONFLICT: { message: 'Conflict' },
  FORBIDDEN: { message: 'Not allowed' },
  UNAVAILABLE: { message: 'A service is unavailable' },
})

export const pipelineContract = {
  status: errors.output(PipelineStatus),
  /** Stops taking work; in Team mode the worker leaves the group so the team takes its partitions over. */
  pause: errors.output(PipelineStatus),
  resume: errors.output(PipelineStatus),
  /** The status now, then about once a second while it changes. */
  watchPipeline: errors.output(eventIterator(PipelineStatus)),
}
