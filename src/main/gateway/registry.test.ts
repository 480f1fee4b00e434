import { describe, expect, it } from 'vitest'
import { GatewayActivity, NO_KEY } from './registry'

describe("a gateway's figures for the registry", () => {
  it('counts the last 10 full seconds: rate, p99, final share and refusals by key name', () => {
    let now = 1_000_000
    const activity = new GatewayActivity(() => now)
    for (let ms = 1; ms <= 100; ms++) {
      activity.request('/v1/transactions', 200, 'payments')
      activity.decided(ms <= 95, ms)
    }
    activity.request('/v1/transactions', 400, 'careless')
    activity.request('/v1/transactions', 409, 'careless')
    activity.request('/v1/transactions/:txn_id', 401, undefined)
    // A lookup of what is not stored yet is an answer, not an error.
    activity.request('/v1/transactions/:txn_id', 404, 'payments')
    // Probes and strays are not the API's traffic: neither requests nor errors.
    activity.request('/readyz', 503, undefined)
    activity.request('/healthz', 200, undefined)
    activity.request(undefined, 404, undefined)
    // The current second is not counted until it is over.
    expect(activity.figures()).toEqual({ requestsPerSecond: 0, p99Ms: null, finalPct: null, errorsByKey: [] })
    now += 1000
    expect(activity.figures()).toEqual({
      requestsPerSecond: 10.4,
      p99Ms: 99,
      finalPct: 95,
      errorsByKey: [
        { key: 'careless', errors: 2 },
        { key: NO_KEY, errors: 1 },
      ],
    })
    // Ten seconds on, it has left the window.
    now += 10_000
    expect(activity.figures().requestsPerSecond).toBe(0)
  })

  it('counts a decision slower than a second in the last bucket', () => {
    let now = 5_000_000
    const activity = new GatewayActivity(() => now)
    activity.decided(false, 4321)
    now += 1000
    expect(activity.figures()).toMatchObject({ p99Ms: 1000, finalPct: 0 })
  })
})
