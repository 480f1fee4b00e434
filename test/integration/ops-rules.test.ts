import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALERT_RULES, promtool, shortRules } from '../support/prometheus'

/** The shipped alert rules, as Prometheus' own checker reads them. */

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aether-rules-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const check = async (text: string) => {
  const path = join(dir, `rules-${Math.random().toString(36).slice(2)}.yml`)
  await writeFile(path, text)
  return promtool(['check', 'rules', path])
}

describe('docs/ops/alerts.yml', () => {
  it('passes promtool check rules, with every alert the operators need', async () => {
    const { code, output } = await promtool(['check', 'rules', ALERT_RULES])
    expect(output).toContain('SUCCESS')
    expect(code, output).toBe(0)
    const rules = await readFile(ALERT_RULES, 'utf8')
    for (const alert of [
      'AetherWorkerDown',
      'AetherIngestLagGrowing',
      'AetherDeadLetterRateHigh',
      'AetherDecisionP99OverBudget',
      'AetherWebhookNotPosted',
      'AetherPartitionUnowned',
      'AetherRedisWithoutPersistence',
      'AetherStoreUnreachable',
    ])
      expect(rules).toContain(`- alert: ${alert}\n`)
  })

  it('fails the check when a rule is broken', async () => {
    const rules = await readFile(ALERT_RULES, 'utf8')
    // A typo an editor could make: an unclosed bracket in the lag alert's expression.
    const broken = rules.replace(
      'deriv(aether:ingest_lag:sum[5m]) > 0',
      'deriv(aether:ingest_lag:sum[5m] > 0',
    )
    expect(broken).not.toBe(rules)
    const { code, output } = await check(broken)
    expect(code).not.toBe(0)
    expect(output).toMatch(/FAILED|error/i)
    // And an alert without its expression.
    const missing = await check(rules.replace(/expr: aether_store_up == 0\n/, ''))
    expect(missing.code).not.toBe(0)
  })

  it('stays valid with the short durations the Prometheus test uses', async () => {
    const { code, output } = await check(await shortRules(2, 10))
    expect(code, output).toBe(0)
  })
})
