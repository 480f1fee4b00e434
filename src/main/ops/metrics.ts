import { createServer, type Server } from 'node:http'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client'
import { APP_VERSION } from '../core/version'
import type { HistogramSnapshot } from './latency'

/**
 * Prometheus metrics of the headless processes (`aether worker`, `aether gateway`, `aether serve`), with
 * prom-client: one Registry per process, the standard process metrics (CPU, memory, event-loop lag, GC,
 * handles) and the process's own families. /metrics listens on 127.0.0.1 only.
 */

export type ProcessRole = 'worker' | 'gateway' | 'serve'

/** A Registry with the default process metrics and `aether_build_info{role,version}`. */
export function createRegistry(role: ProcessRole): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  new Gauge({
    name: 'aether_build_info',
    help: 'Always 1: the version and role of this process.',
    labelNames: ['role', 'version'],
    registers: [registry],
  }).set({ role, version: APP_VERSION }, 1)
  return registry
}

export interface MetricsServer {
  server: Server
  port: number
  close(): Promise<void>
}

/** Serves the registry at /metrics on 127.0.0.1: figures about the team's traffic are not for the network. */
export async function serveMetrics(port: number, registry: Registry): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Only /metrics is here.\n')
      return
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) =>
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  const address = server.address()
  return {
    server,
    port: typeof address === 'object' && address !== null ? address.port : port,
    // A scraper keeps its connection open: closing waits for none.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/**
 * A histogram whose bucket counts are kept elsewhere (worker threads, as plain data) and read at scrape
 * time: prom-client's Histogram can only be fed one observation at a time. prom-client still writes the
 * exposition; this only hands it the cumulative buckets, as its own Histogram.get() does.
 */
export class SnapshotHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'

  constructor(
    readonly name: string,
    readonly help: string,
    /** Upper bounds in the unit the counts were recorded in. */
    private readonly bounds: readonly number[],
    /** Divides bounds and sum into the exported unit (1000: milliseconds → seconds). */
    private readonly divisor: number,
    private readonly read: () => Promise<HistogramSnapshot>,
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric)
  }

  async get() {
    const { counts, sum, count } = await this.read()
    const bucket = `${this.name}_bucket`
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = []
    let cumulative = 0
    this.bounds.forEach((bound, index) => {
      cumulative += counts[index] ?? 0
      values.push({ labels: { le: bound / this.divisor }, value: cumulative, metricName: bucket })
    })
    values.push(
      { labels: { le: '+Inf' }, value: count, metricName: bucket },
      { labels: {}, value: sum / this.divisor, metricName: `${this.name}_sum` },
      { labels: {}, value: count, metricName: `${this.name}_count` },
    )
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset() {}
}

/** Seconds: the gateway's request and decision latency buckets, fine around the 100 ms budget. */
export const GATEWAY_SECONDS_BUCKETS = [
  0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.075, 0.09, 0.1, 0.125, 0.15, 0.2, 0.3, 0.5, 1,
  2.5, 5,
]

/**
 * The gateway's families, agreed with the alert rules (docs/ops/alerts.yml) and the dashboard: the
 * gateway creates them once on its Registry and records into them. Labels stay bounded: `route` is the
 * route pattern (`/v1/transactions/:txn_id`, never the path), `key` the API key's name (admins create a
 * handful), `status` the HTTP status code.
 */
export function gatewayMetrics(registry: Registry, budgetSeconds: number) {
  const registers = [registry]
  const metrics = {
    /** Every answered request. */
    requests: new Counter({
      name: 'aether_gateway_requests_total',
      help: 'HTTP requests answered, by route pattern, status code and API key name.',
      labelNames: ['route', 'status', 'key'] as const,
      registers,
    }),
    /** Every answered request, from the first byte read to the last written. */
    requestSeconds: new Histogram({
      name: 'aether_gateway_request_duration_seconds',
      help: 'Time to answer a request, by route pattern.',
      labelNames: ['route'] as const,
      buckets: GATEWAY_SECONDS_BUCKETS,
      registers,
    }),
    /** POST /v1/transactions: from the request to the decision sent; final="false" is the provisional path. */
    decisionSeconds: new Histogram({
      name: 'aether_gateway_decision_seconds',
      help: 'Time to a synchronous decision, by whether it was final (stored) or provisional.',
      labelNames: ['final'] as const,
      buckets: GATEWAY_SECONDS_BUCKETS,
      registers,
    }),
    /** Synchronous decisions by outcome; the provisional share is final="false" over all. */
    decisions: new Counter({
      name: 'aether_gateway_decisions_total',
      help: 'Synchronous decisions sent, by decision (approve, review, block) and whether final.',
      labelNames: ['decision', 'final'] as const,
      registers,
    }),
    /** Requests refused for backpressure (stream lag past its bound), a key's rate limit, or an address's failed keys. */
    refused: new Counter({
      name: 'aether_gateway_refused_total',
      help: 'Requests refused before any work, by reason (backpressure, rate_limit, auth_failures).',
      labelNames: ['reason'] as const,
      registers,
    }),
    /** Entries on the partition streams not yet stored, as last measured (backpressure's input). */
    backlog: new Gauge({
      name: 'aether_gateway_stream_backlog',
      help: 'Entries on the partition streams not yet stored, as last measured.',
      registers,
    }),
    /** The --budget-ms in force, so the alert compares p99 with this gateway's own budget. */
    budget: new Gauge({
      name: 'aether_gateway_decision_budget_seconds',
      help: 'The decision budget (--budget-ms) of this gateway, in seconds.',
      registers,
    }),
  }
  metrics.budget.set(budgetSeconds)
  return metrics
}
