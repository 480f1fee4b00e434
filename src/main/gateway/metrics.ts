import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** The gateway's Prometheus metrics, in a registry of its own (never prom-client's global one). */
export class GatewayMetrics {
  readonly registry = new Registry()
  readonly requests = new Counter({
    name: 'aether_gateway_requests_total',
    help: 'Requests answered, by route, HTTP status and API key name',
    labelNames: ['route', 'status', 'key'] as const,
    registers: [this.registry],
  })
  readonly latency = new Histogram({
    name: 'aether_gateway_request_duration_seconds',
    help: 'Time from a request to its answer, by route',
    labelNames: ['route'] as const,
    buckets: [0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  })
  readonly decisions = new Counter({
    name: 'aether_gateway_decisions_total',
    help: 'Synchronous decisions returned; final="false" were provisional (the share past the budget)',
    labelNames: ['final'] as const,
    registers: [this.registry],
  })
  readonly backlog = new Gauge({
    name: 'aether_gateway_stream_backlog',
    help: 'Entries on the partition streams not yet stored, as last measured',
    registers: [this.registry],
  })
}
