import type { ImportOutcome, ImportProgress } from './importer'

/** Messages between the datasets service and its import worker. */
export type ImportWorkerRequest = { type: 'cancel' }

export type ImportWorkerReply =
  | { type: 'progress'; progress: ImportProgress }
  | { type: 'done'; outcome: ImportOutcome }
  | { type: 'cancelled' }
  | { type: 'failed'; message: string }
