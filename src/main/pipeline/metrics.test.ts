import { describe, expect, it } from 'vitest'
import type { PipelineStatus } from '../../shared/pipeline-contract'
import { Registry } from 'prom-client'
import { BATCH_SIZE_BUCKETS, LatencyHistogram } from '../ops/latency'
import { registerPipelineMetrics, renderMetrics, type WorkerMetrics } from './metrics'

const status = (workerId: string, extra: Partial<PipelineStatus> = {}): WorkerMetrics => ({
  status: {
    state: 'running',
    mode: 'team',
    source: 'Redis streams aether:tx (8 partitions)',
    workerId,
    ratePerSecond: 0,
    counts: { stored: 10, duplicates: 0, deadLetters: 4, alerts: 0, errors: 0 },
    deadLetterTotal: 4,
    rulesVersion: 1,
    progress: null,
    partitions: [],
    updatedAt: new Date(0).toISOString(),
    ...extra,
  },
  batches: 1,
  latency: { counts: [], sum: 0, count: 0 },
})

const series = (text: string, name: string) => text.split('\n').filter((line) => line.startsWith(`${name}{`))

describe('renderMetrics', () => {
  it('counts each worker’s dead letters by reason', async () => {
    const text = await renderMetrics([
      status('w1', { deadLettersByReason: { invalid: 3, wrong_partition: 1 } }),
      status('w2', { deadLettersByReason: { wrong_partition: 2 } }),
    ])
    expect(text).toContain('# TYPE aether_ingest_dead_letters_total counter\n')
    expect(series(text, 'aether_ingest_dead_letters_total')).toEqual([
      'aether_ingest_dead_letters_total{worker="w1",reason="invalid"} 3',
      'aether_ingest_dead_letters_total{worker="w1",reason="wrong_partition"} 1',
      'aether_ingest_dead_letters_total{worker="w2",reason="wrong_partition"} 2',
    ])
  })

  it('keeps the reasons a bounded set of plain names', async () => {
    const many = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`reason_${'x'.repeat(i)}`, 1]))
    const text = await renderMetrics([
      status('w1', { deadLettersByReason: { 'a "quoted"\nreason': 1, ...many } }),
    ])
    const lines = series(text, 'aether_ingest_dead_letters_total')
    expect(lines).toHaveLength(10)
    expect(lines.every((line) => /reason="[a-z_]+"\} \d+$/.test(line))).toBe(true)
  })

  it('names the stray stream keys, the largest first, twenty at most', async () => {
    const strays = Array.from({ length: 25 }, (_, i) => ({ key: `aether:tx:{p${i + 8}}`, length: i }))
    const text = await renderMetrics([
      status('w1'),
      status('w2', { strayStreams: [...strays, { key: 'aether:tx:"odd"', length: 100 }] }),
    ])
    expect(text).toContain('\naether_ingest_stray_streams 26\n')
    const lines = series(text, 'aether_ingest_stray_stream_entries')
    expect(lines).toHaveLength(20)
    expect(lines[0]).toBe('aether_ingest_stray_stream_entries{key="aether:tx:\\"odd\\""} 100')
    expect(lines[1]).toBe('aether_ingest_stray_stream_entries{key="aether:tx:{p32}"} 24')
  })

  it('says there are no stray keys when no worker has found any', async () => {
    const text = await renderMetrics([status('w1', { strayStreams: [] })])
    expect(text).toContain('\naether_ingest_stray_streams 0\n')
    expect(series(text, 'aether_ingest_stray_stream_entries')).toEqual([])
  })

  it('adds up the workers’ latency buckets into one cumulative histogram in seconds', async () => {
    const one = new LatencyHistogram()
    const two = new LatencyHistogram()
    one.record(0.5)
    one.record(3)
    two.record(3)
    two.record(20_000)
    const text = await renderMetrics([
      { ...status('w1'), latency: one.snapshot() },
      { ...status('w2'), latency: two.snapshot() },
    ])
    expect(text).toContain('# TYPE aether_ingest_latency_seconds histogram\n')
    expect(text).toContain('\naether_ingest_latency_seconds_bucket{le="0.001"} 1\n')
    expect(text).toContain('\naether_ingest_latency_seconds_bucket{le="0.003"} 3\n')
    expect(text).toContain('\naether_ingest_latency_seconds_bucket{le="10"} 3\n')
    expect(text).toContain('\naether_ingest_latency_seconds_bucket{le="+Inf"} 4\n')
    expect(text).toContain('\naether_ingest_latency_seconds_sum 20.0065\n')
    expect(text).toContain('\naether_ingest_latency_seconds_count 4\n')
  })

  it('exports batch sizes and commit times when the worker keeps them, empty histograms otherwise', async () => {
    const sizes = new LatencyHistogram(BATCH_SIZE_BUCKETS)
    sizes.record(150)
    const empty = await renderMetrics([status('w1')])
    expect(empty).toContain('\naether_ingest_batch_size_count 0\n')
    expect(empty).toContain('\naether_ingest_commit_seconds_count 0\n')
    const text = await renderMetrics([{ ...status('w1'), batchSize: sizes.snapshot() }])
    expect(text).toContain('\naether_ingest_batch_size_bucket{le="100"} 0\n')
    expect(text).toContain('\naether_ingest_batch_size_bucket{le="200"} 1\n')
    expect(text).toContain('\naether_ingest_batch_size_sum 150\n')
  })

  it('types the running totals as counters and the levels as gauges', async () => {
    const text = await renderMetrics([status('w1')])
    for (const name of [
      'aether_ingest_transactions_total',
      'aether_ingest_alerts_total',
      'aether_ingest_batches_total',
    ])
      expect(text).toContain(`# TYPE ${name} counter\n`)
    for (const name of ['aether_ingest_up', 'aether_ingest_partition_lag', 'aether_ingest_partitions_owned'])
      expect(text).toContain(`# TYPE ${name} gauge\n`)
  })

  it('says which partitions no worker owns, from the team view', async () => {
    const partition = (n: number, owner: string | null) => ({
      partition: n,
      owner,
      mine: owner === 'w1',
      lag: 5,
      pending: 0,
    })
    const text = await renderMetrics([status('w1', { partitions: [partition(0, 'w1'), partition(1, null)] })])
    expect(series(text, 'aether_ingest_partition_owned')).toEqual([
      'aether_ingest_partition_owned{partition="0"} 1',
      'aether_ingest_partition_owned{partition="1"} 0',
    ])
    expect(series(text, 'aether_ingest_partitions_owned')).toEqual([
      'aether_ingest_partitions_owned{worker="w1"} 1',
    ])
  })

  it('reads the workers once per scrape', async () => {
    let reads = 0
    const registry = new Registry()
    registerPipelineMetrics(registry, async () => {
      reads++
      return [status('w1')]
    })
    await registry.metrics()
    expect(reads).toBe(1)
    await registry.metrics()
    expect(reads).toBe(2)
  })
})
