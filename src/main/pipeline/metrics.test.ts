import { describe, expect, it } from 'vitest'
import type { PipelineStatus } from '../../shared/pipeline-contract'
import { renderMetrics, type WorkerMetrics } from './metrics'

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
  it('counts each worker’s dead letters by reason', () => {
    const text = renderMetrics([
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

  it('keeps the reasons a bounded set of plain names', () => {
    const many = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`reason_${'x'.repeat(i)}`, 1]))
    const text = renderMetrics([status('w1', { deadLettersByReason: { 'a "quoted"\nreason': 1, ...many } })])
    const lines = series(text, 'aether_ingest_dead_letters_total')
    expect(lines).toHaveLength(10)
    expect(lines.every((line) => /reason="[a-z_]+"\} \d+$/.test(line))).toBe(true)
  })

  it('names the stray stream keys, the largest first, twenty at most', () => {
    const strays = Array.from({ length: 25 }, (_, i) => ({ key: `aether:tx:{p${i + 8}}`, length: i }))
    const text = renderMetrics([
      status('w1'),
      status('w2', { strayStreams: [...strays, { key: 'aether:tx:"odd"', length: 100 }] }),
    ])
    expect(text).toContain('\naether_ingest_stray_streams 26\n')
    const lines = series(text, 'aether_ingest_stray_stream_entries')
    expect(lines).toHaveLength(20)
    expect(lines[0]).toBe('aether_ingest_stray_stream_entries{key="aether:tx:\\"odd\\""} 100')
    expect(lines[1]).toBe('aether_ingest_stray_stream_entries{key="aether:tx:{p32}"} 24')
  })

  it('says there are no stray keys when no worker has found any', () => {
    const text = renderMetrics([status('w1', { strayStreams: [] })])
    expect(text).toContain('\naether_ingest_stray_streams 0\n')
    expect(series(text, 'aether_ingest_stray_stream_entries')).toEqual([])
  })
})
