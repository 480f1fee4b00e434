import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayMetrics } from '../../src/main/gateway/metrics'
import {
  deleteKeys,
  generated,
  migratedDatabase,
  produce,
  spawnWorker,
  testLayout,
  waitFor,
  type WorkerProcess,
} from '../support/pipeline'
import {
  ALERT_RULES,
  promtool,
  shortRules,
  startPrometheus,
  type PrometheusAlert,
  type PrometheusTarget,
  type RunningPrometheus,
} from '../support/prometheus'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * A real Prometheus scrapes a real `aether worker` and evaluates the shipped alert rules (durations made
 * short): the exposition parses, and pausing the worker under load fires the lag alert, which resolves
 * once it resumes.
 */

const layout = testLayout(4)
let database: TestDatabase
let worker: WorkerProcess
let metricsPort: number
let prometheus: RunningPrometheus

beforeAll(async () => {
  database = await createTestDatabase()
  await migratedDatabase(database.url)
  worker = spawnWorker([
    '--postgres-url',
    database.url,
    '--redis-url',
    SHARED_REDIS_URL,
    '--prefix',
    layout.prefix,
    '--partitions',
    String(layout.partitions),
  ])
  metricsPort = await waitFor(
    'the worker’s metrics port',
    async () => Number(/127\.0\.0\.1:(\d+)\/metrics/.exec(worker.output())?.[1] ?? 0),
    (port) => port > 0,
    30_000,
  )
  prometheus = await startPrometheus({
    job: 'aether-worker',
    targets: [`127.0.0.1:${metricsPort}`],
    rules: await shortRules(2, 8),
  })
})

afterAll(async () => {
  await prometheus?.stop()
  worker?.child.kill('SIGTERM')
  await worker?.exited
  await deleteKeys(SHARED_REDIS_URL, layout.prefix)
  await database?.drop()
})

const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
const alerts = async () => (await prometheus.api<{ alerts: PrometheusAlert[] }>('alerts')).alerts
const states = (all: PrometheusAlert[], name: string) =>
  all.filter((alert) => alert.labels.alertname === name).map((alert) => alert.state)
const query = async (expr: string) =>
  (await prometheus.api<{ result: { value: [number, string] }[] }>(`query?query=${encodeURIComponent(expr)}`))
    .result

describe('a worker under a real Prometheus', () => {
  it('is scraped without errors, and its exposition passes promtool', async () => {
    const target = await waitFor(
      'a successful scrape',
      async () => (await prometheus.api<{ activeTargets: PrometheusTarget[] }>('targets')).activeTargets[0],
      (found) => found?.health === 'up',
      30_000,
    )
    expect(target?.lastError).toBe('')
    // Prometheus stored the pipeline's families, histograms included.
    const stored = await waitFor(
      'the pipeline series in Prometheus',
      () => query('aether_ingest_latency_seconds_count'),
      (result) => result.length === 1,
      15_000,
    )
    expect(stored).toHaveLength(1)
    expect(await query('aether_ingest_partition_lag')).toHaveLength(layout.partitions)
    expect(await query('process_cpu_seconds_total')).toHaveLength(1)
    expect(await query('nodejs_eventloop_lag_seconds')).toHaveLength(1)
    // The team webhook's backlog, read from the store: nothing waits, and this login may post.
    const exposition = await scrape()
    expect(exposition).toMatch(/^aether_webhook_waiting 0$/m)
    expect(exposition).toMatch(/^aether_webhook_refused 0$/m)
    // promtool's linter only finds prom-client's own nodejs_*_total gauges to complain about.
    const { output } = await promtool(['check', 'metrics'], await scrape())
    const complaints = output.split('\n').filter((line) => line.trim() !== '')
    expect(complaints.filter((line) => !/^nodejs_active_\w+_total non-counter/.test(line))).toEqual([])
  })

  it('fires the lag alert while the worker is paused under load, and resolves it once it resumes', async () => {
    // A worker takes a partition once its stream exists: a first few transactions create them.
    await produce(SHARED_REDIS_URL, layout, generated(200, 6))
    await waitFor(
      'the worker owning every partition',
      async () => Number((await query('sum(aether_ingest_partitions_owned)'))[0]?.value[1] ?? 0),
      (owned) => owned === layout.partitions,
      30_000,
    )
    worker.child.kill('SIGUSR2')
    await waitFor(
      'the pause',
      () => query('aether_ingest_paused == 1'),
      (r) => r.length === 1,
      15_000,
    )
    // 300 tx/s for 40 s: still arriving when the worker resumes.
    const load = produce(SHARED_REDIS_URL, layout, generated(12_000, 7), 300)
    const seen = new Set<string>()
    await waitFor(
      'AetherIngestLagGrowing firing',
      async () => {
        const all = await alerts()
        for (const state of states(all, 'AetherIngestLagGrowing')) seen.add(state)
        for (const state of states(all, 'AetherPartitionUnowned')) seen.add(`unowned ${state}`)
        return states(all, 'AetherIngestLagGrowing')
      },
      (found) => found.includes('firing'),
      40_000,
    )
    expect([...seen]).toContain('firing')
    // Paused, the worker gave its partitions back: no one owns them, and that alerts too.
    await waitFor(
      'AetherPartitionUnowned firing',
      async () => states(await alerts(), 'AetherPartitionUnowned'),
      (found) => found.includes('firing'),
      15_000,
    )
    expect(Number((await query('aether:ingest_lag:sum'))[0]?.value[1])).toBeGreaterThan(0)

    worker.child.kill('SIGUSR2')
    await waitFor(
      'the lag and ownership alerts resolved',
      async () => {
        const all = await alerts()
        return [...states(all, 'AetherIngestLagGrowing'), ...states(all, 'AetherPartitionUnowned')]
      },
      (found) => found.length === 0,
      40_000,
    )
    // Resolved while the load still arrives: the worker consumes it, not an end of traffic.
    expect(
      Number((await query('sum(rate(aether_ingest_transactions_total{outcome="stored"}[5s]))'))[0]?.value[1]),
    ).toBeGreaterThan(0)
    await load
    const target = (await prometheus.api<{ activeTargets: PrometheusTarget[] }>('targets')).activeTargets[0]
    expect(target?.lastError).toBe('')
  }, 120_000)

  it('exports every metric the dashboard’s queries use', async () => {
    const dashboard = JSON.parse(await readFile('docs/ops/grafana-dashboard.json', 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[]
    }
    const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr))
    expect(exprs.length).toBeGreaterThan(10)
    const used = new Set(
      exprs.flatMap((expr) => expr.match(/\b(?:aether|process|nodejs)_[a-z0-9_]+\b/g) ?? []),
    )
    const recorded = new Set(
      [...(await readFile(ALERT_RULES, 'utf8')).matchAll(/record: ([\w:]+)/g)].map((match) => match[1]),
    )
    for (const expr of exprs)
      for (const [name] of expr.matchAll(/\b[a-z_]+:[a-z_:]+\b/g))
        expect(recorded, `${name} in the dashboard is no recording rule of ${ALERT_RULES}`).toContain(name)
    // The worker's names, from its own /metrics (a family with no series yet is still declared there);
    // the gateway's, from the registry the gateway serves on its --metrics-port.
    const exported = new Set<string>()
    for (const [, name, type] of (await scrape()).matchAll(/^# TYPE (\S+) (\S+)$/gm))
      for (const suffix of type === 'histogram' ? ['_bucket', '_sum', '_count'] : [''])
        exported.add(`${name}${suffix}`)
    for (const metric of await new GatewayMetrics(100).registry.getMetricsAsJSON())
      for (const suffix of String(metric.type) === 'histogram' ? ['_bucket', '_sum', '_count'] : [''])
        exported.add(`${metric.name}${suffix}`)
    const missing = [...used].filter((name) => !exported.has(name))
    expect(missing, 'metrics the dashboard queries that nothing exports').toEqual([])
  })
})
