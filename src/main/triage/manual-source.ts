import type { Transaction } from '../../shared/transaction'
import type { DeadLetter } from '../pipeline/redis-stream'
import { PipelineStore } from '../pipeline/sink'
import type { IngestSource, SourceBatch, SourceInfo } from '../pipeline/worker'
import { PipelineWorker } from '../pipeline/worker'
import { encodeTransaction } from '../pipeline/wire'
import type { Store } from '../store/store'
import { TriageInvalidError } from './errors'

const SOURCE = 'manual'
const SUBMIT_TIMEOUT_MS = 30_000

/**
 * One typed-in transaction as a pipeline source, so Local mode scores it with the pipeline's own worker
 * (validation, features from the user's stored state, rules, lists, alerts) rather than a second copy of
 * that logic. It is read as a possible redelivery, so submitting the same txn_id twice stores it once.
 */
class SubmittedEntrySource implements IngestSource {
  readonly streamIds = false
  readonly description = 'A transaction submitted by an analyst'
  readonly settled: Promise<void>
  private epoch: number | undefined
  private read_ = false
  private resolve!: () => void
  private reject!: (error: Error) => void

  constructor(private readonly txn: Transaction) {
    this.settled = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
  }

  async start(): Promise<void> {}

  changeDue(): boolean {
    return this.epoch === undefined
  }

  async rebalance(store: PipelineStore): Promise<number[]> {
    if (this.epoch === undefined) this.epoch = (await store.takeOver(0, SOURCE)).epoch
    return []
  }

  epochOf(partition: number): number | undefined {
    return partition === 0 ? this.epoch : undefined
  }

  async read(): Promise<SourceBatch> {
    if (this.read_) return { entries: [], redelivered: false, isolated: false, finished: true }
    this.read_ = true
    return {
      entries: [{ partition: 0, id: String(Date.now()), fields: encodeTransaction(this.txn) }],
      redelivered: true,
      isolated: false,
    }
  }

  async settle(_acks: Map<number, string[]>, dead: DeadLetter[]): Promise<void> {
    const [letter] = dead
    if (letter === undefined) this.resolve()
    else this.reject(new TriageInvalidError(`The pipeline refused the transaction: ${letter.reason}`))
  }

  rewind(): void {
    this.read_ = false
  }

  setPaused(): void {}

  async info(): Promise<SourceInfo> {
    return { partitions: [], deadLetterTotal: null, progress: null }
  }

  async stop(store: PipelineStore): Promise<void> {
    if (this.epoch !== undefined) await store.release(0, this.epoch).catch(() => {})
    this.epoch = undefined
  }
}

/** Scores and stores one transaction in the embedded store through a one-off pipeline worker. */
export async function submitToLocalPipeline(store: Store, txn: Transaction): Promise<void> {
  const source = new SubmittedEntrySource(txn)
  const worker = new PipelineWorker(source, new PipelineStore(store, SOURCE), {
    workerId: SOURCE,
    mode: 'local',
    maxBatch: 1,
  })
  worker.start()
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      source.settled,
      new Promise<never>((_, reject) => {
        timer = setTimeout(async () => {
          const status = await worker.status()
          reject(
            new Error(
              `The pipeline did not store the transaction: ${status.lastError?.message ?? 'no reason given'}`,
            ),
          )
        }, SUBMIT_TIMEOUT_MS)
      }),
    ])
  } finally {
    clearTimeout(timer)
    await worker.stop()
  }
}
