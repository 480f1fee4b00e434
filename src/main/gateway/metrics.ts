import { createRegistry, gatewayMetrics } from '../ops/metrics'

/**
 * The gateway's Prometheus metrics: the ops module's families (the names the alert rules and the
 * dashboard query) on a registry of this process, with the default process metrics. Served on
 * --metrics-port (127.0.0.1) only: the requests by key name are not for the API's callers.
 */
export class GatewayMetrics {
  readonly registry = createRegistry('gateway')
  readonly requests
  readonly requestSeconds
  readonly decisions
  readonly decisionSeconds
  readonly refused
  readonly backlog

  constructor(budgetMs: number) {
    const families = gatewayMetrics(this.registry, budgetMs / 1000)
    this.requests = families.requests
    this.requestSeconds = families.requestSeconds
    this.decisions = families.decisions
    this.decisionSeconds = families.decisionSeconds
    this.refused = families.refused
    this.backlog = families.backlog
  }
}
