import { Counter, Gauge, Registry } from 'prom-client'
import type { PipelineStatus } from '../../shared/pipeline-contract'
import {
  BATCH_SIZE_BUCKETS,
  LATENCY_BUCKETS_MS,
  LatencyHistogram,
  type HistogramSnapshot,
} from '../ops/latency'
import {
  createRegistry,
  serveMetrics as serveRegistry,
  SnapshotHistogram,
  type MetricsServer,
} from '../ops/metrics'
import { MODEL_VERSION } from '../scoring'
import type { PipelineWorker } from './worker'

// The bucket counter moved to ops/latency.ts; these names stay for the modules that import them here.
export { LATENCY_BUCKETS_MS, LatencyHistogram, latencyQuantile } from '../ops/latency'

/** Label values per series kept small: at most this many reasons per worker, stray keys named. */
const MAX_REASONS = 10
const MAX_STRAY_KEYS = 20

/**
 * A worker's figures as one thread reports them to the process that serves /metrics: plain data, the
 * same PipelineStatus the app's Pipeline health shows, so the two never disagree.
 */
export interface WorkerMetrics {
  status: PipelineStatus
  /** Batches committed. */
  batches?: number
  /** XADD → commit, in ms. */
  latency?: HistogramSnapshot
  /** Entries per committed batch (buckets BATCH_SIZE_BUCKETS). */
  batchSize?: HistogramSnapshot
  /** Time of each store commit, in ms (buckets LATENCY_BUCKETS_MS). */
  commitMs?: HistogramSnapshot
  /** Where XADD → commit went before the commit, in ms (PipelineWorker.stageTimes). */
  readWaitMs?: HistogramSnapshot
  prepareMs?: HistogramSnapshot
  queuedMs?: HistogramSnapshot
}

const merged = (snapshots: (HistogramSnapshot | undefined)[], bounds: readonly number[]) => {
  const histogram = new LatencyHistogram(bounds)
  for (const snapshot of snapshots) if (snapshot !== undefined) histogram.merge(snapshot)
  return histogram.snapshot()
}

/**
 * The pipeline's families on a registry, read from the workers' latest figures at each scrape. The
 * totals are counters: each worker's own, never going back while it runs, so rate() holds. Labels are
 * bounded: the worker id (one per worker of the process), the partition, a fixed set of reasons and
 * outcomes, at most 20 stray keys.
 */
export function registerPipelineMetrics(registry: Registry, collect: () => Promise<WorkerMetrics[]>): void {
  // One read per scrape: prom-client asks every family at once, each through its collect().
  let reading: Promise<WorkerMetrics[]> | undefined
  const read = () =>
    (reading ??= collect().finally(() => {
      reading = undefined
    }))
  const registers = [registry]
  const worker = (status: PipelineStatus) => ({ worker: status.workerId ?? '' })

  new Counter({
    name: 'aether_ingest_transactions_total',
    help: 'Stream entries handled, by outcome (stored, duplicate, redelivered, dead_letter, deleted_while_pending).',
    labelNames: ['worker', 'outcome'],
    registers,
    async collect() {
      const workers = await read()
      this.reset()
      for (const { status } of workers) {
        const { stored, duplicates, deadLetters, redelivered, deletedWhilePending } = status.counts
        this.inc({ ...worker(status), outcome: 'stored' }, stored)
        this.inc({ ...worker(status), outcome: 'duplicate' }, duplicates)
        // Read again after a failure and found stored: not a producer's duplicate, and not stored twice.
        this.inc({ ...worker(status), outcome: 'redelivered' }, redelivered ?? 0)
        this.inc({ ...worker(status), outcome: 'dead_letter' }, deadLetters)
        // Deleted from the stream (XDEL, or another client's trim) after delivery, before being stored.
        this.inc({ ...worker(status), outcome: 'deleted_while_pending' }, deletedWhilePending ?? 0)
      }
    },
  })
  new Counter({
    name: 'aether_ingest_dead_letters_total',
    help: 'Entries sent to the dead-letter stream, by reason.',
    labelNames: ['worker', 'reason'],
    registers,
    async collect() {
      const workers = await read()
      this.reset()
      for (const { status } of workers) {
        // The reasons are a small fixed set of names (PipelineStatus); anything else is cut to stay bounded.
        const reasons = Object.entries(status.deadLettersByReason ?? {})
          .filter(([reason]) => /^[a-z_]{1,40}$/.test(reason))
          .slice(0, MAX_REASONS)
        for (const [reason, count] of reasons) this.inc({ ...worker(status), reason }, count)
      }
    },
  })
  const counter = (name: string, help: string, value: (figures: WorkerMetrics) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['worker'],
      registers,
      async collect() {
        const workers = await read()
        this.reset()
        for (const figures of workers) this.inc(worker(figures.status), value(figures))
      },
    })
  const gauge = (name: string, help: string, value: (figures: WorkerMetrics) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['worker'],
      registers,
      async collect() {
        const workers = await read()
        this.reset()
        for (const figures of workers) this.set(worker(figures.status), value(figures))
      },
    })
  counter('aether_ingest_alerts_total', 'Transactions scored review or block.', (m) => m.status.counts.alerts)
  counter(
    'aether_ingest_errors_total',
    'Failures the worker recovered from (store, Redis, fencing).',
    (m) => m.status.counts.errors,
  )
  counter('aether_ingest_batches_total', 'Batches committed.', (m) => m.batches ?? 0)
  gauge('aether_ingest_up', '1 while the worker runs, 0 while it waits for a service or is paused.', (m) =>
    m.status.state === 'running' ? 1 : 0,
  )
  gauge('aether_ingest_paused', '1 while an operator has paused the worker (it consumes nothing).', (m) =>
    m.status.state === 'paused' ? 1 : 0,
  )
  gauge(
    'aether_ingest_partitions_owned',
    'Partitions this worker holds the lease of.',
    (m) => m.status.partitions.filter((partition) => partition.mine).length,
  )
  gauge(
    'aether_ingest_rules_version',
    'The rules version the worker scores with (-1 before it has read one).',
    (m) => m.status.rulesVersion ?? -1,
  )
  new Gauge({
    name: 'aether_ingest_model_info',
    help: 'Always 1: the scoring model version in force.',
    labelNames: ['model'],
    registers,
  }).set({ model: MODEL_VERSION }, 1)

  // The team-wide view is the same from every worker: the first one's is enough.
  const partitionGauge = (
    name: string,
    help: string,
    value: (p: PipelineStatus['partitions'][0]) => number | null,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['partition'],
      registers,
      async collect() {
        const view = (await read())[0]?.status
        this.reset()
        for (const partition of view?.partitions ?? []) {
          const figure = value(partition)
          if (figure !== null) this.set({ partition: String(partition.partition) }, figure)
        }
      },
    })
  partitionGauge(
    'aether_ingest_partition_lag',
    'Entries of a partition not yet delivered to the group.',
    (p) => p.lag,
  )
  partitionGauge(
    'aether_ingest_partition_pending',
    'Entries delivered but not yet acknowledged.',
    (p) => p.pending,
  )
  partitionGauge(
    'aether_ingest_partition_owned',
    '1 while some worker of the team holds the partition’s lease, 0 while none does.',
    (p) => (p.owner === null ? 0 : 1),
  )
  new Gauge({
    name: 'aether_ingest_dead_letter_stream_length',
    help: 'Entries in the dead-letter stream.',
    registers,
    async collect() {
      this.set((await read())[0]?.status.deadLetterTotal ?? 0)
    },
  })
  new Gauge({
    name: 'aether_alerts_waiting_for_case',
    help: "Alerts stored while another session (an analyst's open transaction) held their case locked; they join it when the lock goes.",
    registers,
    async collect() {
      const seen = (await read()).find((figures) => figures.status.alertsWaitingForCase !== undefined)
      this.set(seen?.status.alertsWaitingForCase ?? 0)
    },
  })
  // Every worker looks on its own timer: the first that has looked speaks for the team.
  const strays = async () =>
    (await read()).find((figures) => figures.status.strayStreams !== undefined)?.status.strayStreams ?? []
  new Gauge({
    name: 'aether_ingest_stray_streams',
    help: 'Stream keys under the prefix that no worker reads (a producer writes to a wrong key); 100 at most.',
    registers,
    async collect() {
      this.set((await strays()).length)
    },
  })
  new Gauge({
    name: 'aether_ingest_stray_stream_entries',
    help: 'Entries in a stray stream key (the largest ones).',
    labelNames: ['key'],
    registers,
    async collect() {
      const found = await strays()
      this.reset()
      for (const stray of [...found].sort((a, b) => b.length - a.length).slice(0, MAX_STRAY_KEYS))
        this.set({ key: stray.key }, stray.length)
    },
  })

  const histogram = (
    name: string,
    help: string,
    bounds: readonly number[],
    divisor: number,
    pick: (figures: WorkerMetrics) => HistogramSnapshot | undefined,
  ) =>
    new SnapshotHistogram(
      name,
      help,
      bounds,
      divisor,
      async () => merged((await read()).map(pick), bounds),
      registry,
    )
  histogram(
    'aether_ingest_latency_seconds',
    'From XADD to commit of a transaction.',
    LATENCY_BUCKETS_MS,
    1000,
    (m) => m.latency,
  )
  histogram(
    'aether_ingest_commit_seconds',
    'Time of a batch’s store commit.',
    LATENCY_BUCKETS_MS,
    1000,
    (m) => m.commitMs,
  )
  histogram(
    'aether_ingest_read_wait_seconds',
    'From XADD until the read that brought a stored transaction to the batch that stored it (a redelivered one: from its first XADD, so a restart or takeover shows here).',
    LATENCY_BUCKETS_MS,
    1000,
    (m) => m.readWaitMs,
  )
  histogram(
    'aether_ingest_prepare_seconds',
    'From a batch’s read until it was scored: rules, feature state loads, scoring.',
    LATENCY_BUCKETS_MS,
    1000,
    (m) => m.prepareMs,
  )
  histogram(
    'aether_ingest_queued_seconds',
    'Time a batch waited for the commit in flight (and the acknowledgement before it) before its own commit began.',
    LATENCY_BUCKETS_MS,
    1000,
    (m) => m.queuedMs,
  )
  histogram(
    'aether_ingest_batch_size',
    'Entries per committed batch.',
    BATCH_SIZE_BUCKETS,
    1,
    (m) => m.batchSize,
  )
}

/** The pipeline's families alone, as text: for tests that look at what one status exports. */
export async function renderMetrics(workers: WorkerMetrics[]): Promise<string> {
  const registry = new Registry()
  registerPipelineMetrics(registry, async () => workers)
  return registry.metrics()
}

/** A worker process's /metrics: process metrics and the pipeline's, on 127.0.0.1. */
export async function serveMetrics(
  port: number,
  collect: () => Promise<WorkerMetrics[]>,
  registry: Registry = createRegistry('worker'),
): Promise<MetricsServer & { registry: Registry }> {
  registerPipelineMetrics(registry, collect)
  return { ...(await serveRegistry(port, registry)), registry }
}

/**
 * A worker's figures now, as its thread or process reports them. Batch sizes, commit times and the
 * stages before the commit are read when the worker keeps them (`batchSizes`, `commitTimes`,
 * `stageTimes`: LatencyHistograms it records into per commit).
 */
export async function workerFigures(worker: PipelineWorker): Promise<WorkerMetrics> {
  const kept = worker as Partial<Record<'batchSizes' | 'commitTimes', LatencyHistogram>> &
    Partial<Pick<PipelineWorker, 'stageTimes'>>
  return {
    status: await worker.status(),
    batches: worker.counters.batches,
    latency: worker.latency.snapshot(),
    ...(kept.batchSizes !== undefined ? { batchSize: kept.batchSizes.snapshot() } : {}),
    ...(kept.commitTimes !== undefined ? { commitMs: kept.commitTimes.snapshot() } : {}),
    ...(kept.stageTimes !== undefined
      ? {
          readWaitMs: kept.stageTimes.readWait.snapshot(),
          prepareMs: kept.stageTimes.prepare.snapshot(),
          queuedMs: kept.stageTimes.queued.snapshot(),
        }
      : {}),
  }
}
