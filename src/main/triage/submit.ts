import type { SubmitResult } from '../../shared/triage-contract'
import type { Transaction } from '../../shared/transaction'
import { ServiceUnavailableError, type Workstation } from '../core/workstation'
import { DEFAULT_PARTITIONS, DEFAULT_PREFIX } from '../pipeline/partitioning'
import { replay } from '../pipeline/producer'
import { submitToLocalPipeline } from './manual-source'

/**
 * A transaction typed in by an analyst enters the same pipeline as any other: in Team mode it goes onto
 * its user's partition stream through the pipeline's producer, and whichever worker owns that partition
 * scores and stores it, alerts and all; in Local mode a one-off worker of the same pipeline stores it in
 * the embedded store.
 */
export async function submitTransaction(workstation: Workstation, txn: Transaction): Promise<SubmitResult> {
  const status = workstation.status()
  if (status.mode === 'local') {
    await submitToLocalPipeline(workstation.requireStore(), txn)
    return { txnId: txn.txn_id, route: 'local' }
  }
  const profile = await workstation.profiles.get(status.profileId)
  if (profile.kind !== 'team') throw new ServiceUnavailableError('The active profile is not a Team profile.')
  const credentials = await workstation.profiles.credentials(profile)
  const summary = await replay({
    redis: { url: credentials.redisUrl, password: credentials.redisPassword },
    layout: { prefix: DEFAULT_PREFIX, partitions: DEFAULT_PARTITIONS },
    rows: [{ txn }],
  })
  if (summary.sent !== 1)
    throw new ServiceUnavailableError(
      `The stream did not take the transaction: ${summary.problems[0]?.error ?? 'no reason given'}.`,
    )
  return { txnId: txn.txn_id, route: 'stream' }
}
