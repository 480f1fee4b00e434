import { createServer, type Server } from 'node:http'
import type { PipelineStatus } from '../../shared/pipeline-contract'

/** Upper bounds (ms) of the XADD → commit latency buckets: 1 ms apart where the goal (25 ms) lies. */
export const LATENCY_BUCKETS_MS = [
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 25, 30, 40, 50, 75, 100, 150, 200, 300, 500, 1000, 2000,
  5000, 10000,
]

export class LatencyHistogram {
  /** Per bucket, not cumulative; the last one is +Inf. */
  readonly counts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0)
  sum = 0
  count = 0

  record(ms: number) {
    let index = 0
    while (index < LATENCY_BUCKETS_MS.length && ms > (LATENCY_BUCKETS_MS[index] as number)) index++
    this.counts[index] = (this.counts[index] ?? 0) + 1
    this.sum += ms
    this.count++
  }

  merge(other: { counts: number[]; sum: number; count: number }) {
    other.counts.forEach((value, index) => (this.counts[index] = (this.counts[index] ?? 0) + value))
    this.sum += other.sum
    this.count += other.count
  }

  snapshot() {
    return { counts: [...this.counts], sum: this.sum, count: this.count }
  }
}

/** Label values per series kept small: at most this many reasons per worker, stray keys named. */
const MAX_REASONS = 10
const MAX_STRAY_KEYS = 20

/** A worker's figures as one thread reports them to the process that serves /metrics. */
export interface WorkerMetrics {
  status: PipelineStatus
  batches: number
  latency: { counts: number[]; sum: number; count: number }
}

/**
 * The Prometheus text exposition format (0.0.4), written by hand: a dozen series do not need a
 * client library.
 */
export function renderMetrics(workers: WorkerMetrics[]): string {
  const lines: string[] = []
  const family = (name: string, type: string, help: string) =>
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
  const label = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

  family('aether_ingest_transactions_total', 'counter', 'Stream entries handled, by outcome.')
  for (const { status } of workers) {
    const worker = label(status.workerId ?? '')
    const { stored, duplicates, deadLetters } = status.counts
    lines.push(`aether_ingest_transactions_total{worker="${worker}",outcome="stored"} ${stored}`)
    lines.push(`aether_ingest_transactions_total{worker="${worker}",outcome="duplicate"} ${duplicates}`)
    // Read again after a failure and found stored: not a producer's duplicate, and not stored twice.
    lines.push(
      `aether_ingest_transactions_total{worker="${worker}",outcome="redelivered"} ${status.counts.redelivered ?? 0}`,
    )
    lines.push(`aether_ingest_transactions_total{worker="${worker}",outcome="dead_letter"} ${deadLetters}`)
  }
  family('aether_ingest_dead_letters_total', 'counter', 'Entries sent to the dead-letter stream, by reason.')
  for (const { status } of workers) {
    const worker = label(status.workerId ?? '')
    // The reasons are a small fixed set of names (PipelineStatus); anything else is cut to stay bounded.
    const reasons = Object.entries(status.deadLettersByReason ?? {})
      .filter(([reason]) => /^[a-z_]{1,40}$/.test(reason))
      .slice(0, MAX_REASONS)
    for (const [reason, count] of reasons)
      lines.push(`aether_ingest_dead_letters_total{worker="${worker}",reason="${reason}"} ${count}`)
  }
  family('aether_ingest_alerts_total', 'counter', 'Transactions scored review or block.')
  for (const { status } of workers)
    lines.push(`aether_ingest_alerts_total{worker="${label(status.workerId ?? '')}"} ${status.counts.alerts}`)
  family(
    'aether_ingest_errors_total',
    'counter',
    'Failures the worker recovered from (store, Redis, fencing).',
  )
  for (const { status } of workers)
    lines.push(`aether_ingest_errors_total{worker="${label(status.workerId ?? '')}"} ${status.counts.errors}`)
  family('aether_ingest_batches_total', 'counter', 'Batches committed.')
  for (const { status, batches } of workers)
    lines.push(`aether_ingest_batches_total{worker="${label(status.workerId ?? '')}"} ${batches}`)
  family('aether_ingest_up', 'gauge', '1 while the worker runs, 0 while it waits for a service or is paused.')
  for (const { status } of workers)
    lines.push(
      `aether_ingest_up{worker="${label(status.workerId ?? '')}"} ${status.state === 'running' ? 1 : 0}`,
    )

  // The team-wide view is the same from every worker: the first one's is enough.
  const view = workers[0]?.status
  family('aether_ingest_partition_lag', 'gauge', 'Entries of a partition not yet delivered to the group.')
  family('aether_ingest_partition_pending', 'gauge', 'Entries delivered but not yet acknowledged.')
  for (const partition of view?.partitions ?? []) {
    if (partition.lag !== null)
      lines.push(`aether_ingest_partition_lag{partition="${partition.partition}"} ${partition.lag}`)
    lines.push(`aether_ingest_partition_pending{partition="${partition.partition}"} ${partition.pending}`)
  }
  family('aether_ingest_dead_letter_stream_length', 'gauge', 'Entries in the dead-letter stream.')
  lines.push(`aether_ingest_dead_letter_stream_length ${view?.deadLetterTotal ?? 0}`)
  // Every worker looks on its own timer: the first that has looked speaks for the team.
  const strays = workers.find((worker) => worker.status.strayStreams !== undefined)?.status.strayStreams ?? []
  family(
    'aether_ingest_stray_streams',
    'gauge',
    'Stream keys under the prefix that no worker reads (a producer writes to a wrong key); 100 at most.',
  )
  lines.push(`aether_ingest_stray_streams ${strays.length}`)
  family('aether_ingest_stray_stream_entries', 'gauge', 'Entries in a stray stream key (the largest ones).')
  for (const stray of [...strays].sort((a, b) => b.length - a.length).slice(0, MAX_STRAY_KEYS))
    lines.push(`aether_ingest_stray_stream_entries{key="${label(stray.key)}"} ${stray.length}`)

  const latency = new LatencyHistogram()
  for (const worker of workers) latency.merge(worker.latency)
  family('aether_ingest_latency_seconds', 'histogram', 'From XADD to commit of a transaction.')
  let cumulative = 0
  LATENCY_BUCKETS_MS.forEach((bound, index) => {
    cumulative += latency.counts[index] ?? 0
    lines.push(`aether_ingest_latency_seconds_bucket{le="${bound / 1000}"} ${cumulative}`)
  })
  lines.push(`aether_ingest_latency_seconds_bucket{le="+Inf"} ${latency.count}`)
  lines.push(`aether_ingest_latency_seconds_sum ${latency.sum / 1000}`)
  lines.push(`aether_ingest_latency_seconds_count ${latency.count}`)

  const cpu = process.cpuUsage()
  family('process_cpu_seconds_total', 'counter', 'User and system CPU time of this process.')
  lines.push(`process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`)
  family('process_resident_memory_bytes', 'gauge', 'Resident memory of this process.')
  lines.push(`process_resident_memory_bytes ${process.memoryUsage.rss()}`)
  return `${lines.join('\n')}\n`
}

/** Serves /metrics on 127.0.0.1 only: figures about the team's traffic are not for the network. */
export async function serveMetrics(
  port: number,
  collect: () => Promise<WorkerMetrics[]>,
): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Only /metrics is here.\n')
      return
    }
    collect().then(
      (workers) =>
        response
          .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
          .end(renderMetrics(workers)),
      (error: unknown) =>
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  const address = server.address()
  return { server, port: typeof address === 'object' && address !== null ? address.port : port }
}

/** The latency at a quantile, interpolated within its bucket as Prometheus' histogram_quantile does. */
export function latencyQuantile(histogram: { counts: number[]; count: number }, quantile: number): number {
  if (histogram.count === 0) return Number.NaN
  const rank = quantile * histogram.count
  let cumulative = 0
  for (let index = 0; index < histogram.counts.length; index++) {
    const inBucket = histogram.counts[index] ?? 0
    if (cumulative + inBucket >= rank) {
      const lower = index === 0 ? 0 : (LATENCY_BUCKETS_MS[index - 1] as number)
      const upper = LATENCY_BUCKETS_MS[index] ?? lower
      return inBucket === 0 ? upper : lower + ((upper - lower) * (rank - cumulative)) / inBucket
    }
    cumulative += inBucket
  }
  return LATENCY_BUCKETS_MS.at(-1) as number
}
