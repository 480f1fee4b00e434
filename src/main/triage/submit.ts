import type { SubmitResult } from '../../shared/triage-contract'
import type { Transaction } from '../../shared/transaction'
import { ServiceUnavailableError } from '../errors'
import { DEFAULT_PARTITIONS, DEFAULT_PREFIX } from '../pipeline/partitioning'
import { replay } from '../pipeline/producer'
import type { RedisConnection } from '../pipeline/redis-stream'
import type { StoreScope } from '../store/scope'
import { submitToLocalPipeline } from './manual-source'

/** What a submission needs of the active profile. */
export interface SubmitScope extends StoreScope {
  /** The active Team profile's Redis; refuses when the active profile is not a Team one. */
  teamRedis(): Promise<RedisConnection>
}

/**
 * A transaction typed in by an analyst enters the same pipeline as any other: in Team mode it goes onto
 * its user's partition stream through the pipeline's producer, and whichever worker owns that partition
 * scores and stores it, alerts and all; in Local mode a one-off worker of the same pipeline stores it in
 * the embedded store.
 */
export async function submitTransaction(scope: SubmitScope, txn: Transaction): Promise<SubmitResult> {
  if (scope.storeMode() === 'local') {
    await submitToLocalPipeline(scope.requireStore(), txn)
    return { txnId: txn.txn_id, route: 'local' }
  }
  const summary = await replay({
    redis: await scope.teamRedis(),
    layout: { prefix: DEFAULT_PREFIX, partitions: DEFAULT_PARTITIONS },
    rows: [{ txn }],
    // An analyst waits for this: a short retry, not a replay's long one.
    retryForMs: 10_000,
  })
  if (summary.confirmed !== 1)
    throw new ServiceUnavailableError(
      `The stream did not take the transaction: ${summary.failure ?? summary.problems[0]?.error ?? 'no reason given'}.`,
    )
  return { txnId: txn.txn_id, route: 'stream' }
}
