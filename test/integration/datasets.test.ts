import { readFile } from 'node:fs/promises'
import { DuckDBInstance } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { AnalysisResult, Dataset, RowsRequest } from '../../src/shared/datasets-contract'
import { DEFAULT_RULES, type RuleSet } from '../../src/shared/rules'
import { main } from '../../src/main/cli'
import {
  backtestResults,
  cents,
  collect,
  openDatasetsHarness,
  readyDataset,
  SAMPLE_PATH,
  sampleRows,
  type DatasetsHarness,
  type SampleRow,
} from '../support/datasets'

let harness: DatasetsHarness
let dataset: Dataset
let sample: SampleRow[]

beforeAll(async () => {
  harness = await openDatasetsHarness()
  dataset = readyDataset(await collect(await harness.client.datasets.openSample()))
  sample = sampleRows()
})

afterAll(async () => {
  await harness.dispose()
})

const page = (request: Partial<RowsRequest>) =>
  harness.client.datasets.rows({
    datasetId: dataset.id,
    source: { kind: 'dataset' },
    startRow: 0,
    endRow: 100,
    ...request,
  })

const countBy = <K>(rows: SampleRow[], key: (row: SampleRow) => K) => {
  const counts = new Map<K, number>()
  for (const row of rows) counts.set(key(row), (counts.get(key(row)) ?? 0) + 1)
  return counts
}

describe('the grid over DuckDB', () => {
  it('pages through the file in order, a block at a time', async () => {
    const first = await page({ startRow: 0, endRow: 100, withCount: true })
    const second = await page({ startRow: 100, endRow: 200 })
    expect(first.rowCount).toBe(19_999)
    expect(second.rowCount).toBeNull()
    expect(first.rows.map((row) => Number(row.seq))).toEqual(sample.slice(0, 100).map((row) => row.line))
    expect(second.rows.map((row) => row.user_id)).toEqual(sample.slice(100, 200).map((row) => row.nameOrig))
    const last = await page({ startRow: 19_900, endRow: 20_000 })
    expect(last.rows).toHaveLength(99)
  })

  it('sorts and filters in SQL', async () => {
    const expected = sample.filter((row) => row.type === 'TRANSFER' && row.amount > 100_000)
    const sorted = await page({
      sort: [{ colId: 'amount', sort: 'desc' }],
      filter: {
        type: { filterType: 'text', type: 'equals', filter: 'transfer' },
        amount: { filterType: 'number', type: 'greaterThan', filter: 100_000 },
      },
      withCount: true,
    })
    expect(sorted.rowCount).toBe(expected.length)
    const amounts = sorted.rows.map((row) => Number(row.amount))
    expect(amounts).toEqual([...amounts].sort((a, b) => b - a))
    expect(amounts[0]).toBe(Math.max(...expected.map((row) => row.amount)))
    expect(sorted.rows.every((row) => row.type === 'TRANSFER')).toBe(true)
    // Each row whole and its own: the page's columns are fetched for its rows after the sort.
    const byAmount = [...expected].sort((a, b) => b.amount - a.amount).slice(0, 100)
    expect(sorted.rows.map((row) => [row.user_id, row.counterparty_id, Number(row.balance_before)])).toEqual(
      byAmount.map((row) => [row.nameOrig, row.nameDest, row.oldbalanceOrg]),
    )

    const contains = await page({
      filter: { counterparty_id: { filterType: 'text', type: 'startsWith', filter: 'M20' } },
      withCount: true,
    })
    expect(contains.rowCount).toBe(sample.filter((row) => row.nameDest.startsWith('M20')).length)
  })

  it('groups by a column with counts, fraud and amounts', async () => {
    const grouped = await harness.client.datasets.groups({
      datasetId: dataset.id,
      source: { kind: 'dataset' },
      column: 'type',
    })
    const counts = countBy(sample, (row) => row.type)
    const fraud = countBy(
      sample.filter((row) => row.isFraud),
      (row) => row.type,
    )
    expect(grouped.groupCount).toBe(counts.size)
    for (const group of grouped.groups) {
      expect(group.rows, String(group.value)).toBe(counts.get(String(group.value)))
      expect(group.fraud, String(group.value)).toBe(fraud.get(String(group.value)) ?? 0)
    }
  })

  it('refuses a column the dataset does not have, whatever it says', async () => {
    for (const colId of ['nope', 'amount; DROP TABLE source', 'amount" DESC, "seq'])
      await expect(page({ sort: [{ colId, sort: 'asc' }] })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(
      page({ filter: { 'label" OR true OR "': { filterType: 'text', type: 'equals', filter: 'x' } } }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })
})

describe('the canned analyses', () => {
  const analysis = async <N extends AnalysisResult['analysis']>(name: N) => {
    const answer = await harness.client.datasets.analysis({ datasetId: dataset.id, analysis: name })
    return answer.result as Extract<AnalysisResult, { analysis: N }>
  }

  it('fraud rate by type', async () => {
    const result = await analysis('fraud-by-type')
    const counts = countBy(sample, (row) => row.type)
    const fraud = countBy(
      sample.filter((row) => row.isFraud),
      (row) => row.type,
    )
    expect(result.rows).toHaveLength(counts.size)
    for (const row of result.rows) {
      expect(row.transactions).toBe(counts.get(row.type))
      expect(row.fraud).toBe(fraud.get(row.type) ?? 0)
      expect(row.rate).toBeCloseTo(row.fraud / row.transactions)
    }
  })

  it('amount distribution in log bins', async () => {
    const { bins } = await analysis('amount-distribution')
    expect(bins.reduce((sum, bin) => sum + bin.legit + bin.fraud, 0)).toBe(19_999)
    expect(bins.reduce((sum, bin) => sum + bin.fraud, 0)).toBe(81)
    const perBin = countBy(sample, (row) => Math.floor(Math.log10(row.amount) * 4))
    for (const bin of bins)
      expect(bin.legit + bin.fraud, `${bin.lower}–${bin.upper}`).toBe(
        perBin.get(Math.round(Math.log10(bin.lower) * 4)),
      )
  })

  it('volume and fraud by step', async () => {
    const { points } = await analysis('volume-by-step')
    const counts = countBy(sample, (row) => row.step)
    expect(points.map((point) => point.step)).toEqual([...counts.keys()].sort((a, b) => a - b))
    for (const point of points) expect(point.transactions).toBe(counts.get(point.step))
    expect(points[0]?.ts).toMatch(/^2026-01-01 00:00:00/)
  })

  it('balance drain: fraud moves the whole balance', async () => {
    const { rows } = await analysis('balance-drain')
    const drains = (row: SampleRow) => row.oldbalanceOrg > 0 && row.amount === row.oldbalanceOrg
    for (const row of rows) {
      const matching = sample.filter((s) => s.type === row.type && drains(s) === row.emptiesAccount)
      expect(row.transactions).toBe(matching.length)
      expect(row.fraud).toBe(matching.filter((s) => s.isFraud).length)
    }
  })

  it('the accounts that received the most fraud', async () => {
    const { rows } = await analysis('mule-accounts')
    const received = countBy(sample, (row) => row.nameDest)
    const fraudReceived = countBy(
      sample.filter((row) => row.isFraud),
      (row) => row.nameDest,
    )
    // Ranked by the fraudulent amount received: the first received the most.
    const fraudAmount = new Map<string, number>()
    for (const row of sample.filter((r) => r.isFraud))
      fraudAmount.set(row.nameDest, (fraudAmount.get(row.nameDest) ?? 0) + row.amount)
    expect(Number(rows[0]?.fraudAmount)).toBeCloseTo(Math.max(...fraudAmount.values()), 2)
    for (const row of rows) {
      expect(row.fraudReceived).toBe(fraudReceived.get(row.account))
      expect(row.received).toBe(received.get(row.account))
    }
  })

  it('TRANSFER → CASH_OUT chains, by account and by amount', async () => {
    const result = await analysis('transfer-cashout-chains')
    const transfers = sample.filter((row) => row.type === 'TRANSFER')
    const cashOuts = sample.filter((row) => row.type === 'CASH_OUT')
    const byAccount = transfers.flatMap((t) =>
      cashOuts.filter(
        (c) => c.nameOrig === t.nameDest && (c.step > t.step || (c.step === t.step && c.line > t.line)),
      ),
    )
    const byAmount = transfers.flatMap((t) =>
      cashOuts.filter((c) => c.step === t.step && c.amountText === t.amountText && c.line > t.line),
    )
    expect(result.byAccount.chains).toBe(byAccount.length)
    expect(result.byAmount.chains).toBe(byAmount.length)
    expect(result.byAmount.fraudChains).toBeGreaterThan(0)
    for (const chain of result.rows) expect(chain.cashOutSeq).toBeGreaterThan(chain.transferSeq)
  })
})

describe('rule backtests', () => {
  const fraud = () => sample.filter((row) => row.isFraud)

  it('gives figures that agree with their confusion matrix', async () => {
    const results = await backtestResults(
      await harness.client.datasets.backtest({
        datasetId: dataset.id,
        ruleSets: [DEFAULT_RULES],
      }),
    )
    const [result] = results
    if (result === undefined) throw new Error('no result')
    const { truePositives: tp, falsePositives: fp, falseNegatives: fn, trueNegatives: tn } = result.confusion
    expect(tp + fp + fn + tn).toBe(19_999)
    expect(tp + fn).toBe(81)
    expect(tp + fp).toBe(result.decisions.review + result.decisions.block)
    expect(result.precision).toBeCloseTo(tp / (tp + fp))
    expect(result.recall).toBeCloseTo(tp / (tp + fn))
    const precision = result.precision ?? 0
    const recall = result.recall ?? 0
    expect(result.f1).toBeCloseTo((2 * precision * recall) / (precision + recall))
    const fraudCents = fraud().reduce((sum, row) => sum + cents(row.amountText), 0n)
    expect(cents(result.fraudAmountCaught) + cents(result.fraudAmountMissed)).toBe(fraudCents)
    expect(result.alertsOverTime.points.reduce((sum, point) => sum + point.alerts, 0)).toBe(tp + fp)
    expect(result.alertsOverTime.points.reduce((sum, point) => sum + point.fraudCaught, 0)).toBe(tp)
    // The sample's eight PaySim steps are eight hours: one bar each, not one bar for the day.
    expect(result.alertsOverTime.bucket).toBe('hour')
    expect(result.alertsOverTime.points.map((point) => point.start)).toEqual(
      Array.from({ length: 8 }, (_, hour) => `2026-01-01 0${hour}:00`),
    )
    expect(result.ruleHits.map((hit) => hit.rule)).toEqual(
      DEFAULT_RULES.rules.filter((rule) => rule.enabled).map((rule) => rule.id),
    )
  })

  it('compares two rule versions side by side', async () => {
    const edited: RuleSet = {
      ...DEFAULT_RULES,
      version: 2,
      rules: DEFAULT_RULES.rules.map((rule) =>
        rule.id === 'balance_drain' ? { ...rule, enabled: false } : rule,
      ),
    }
    const results = await backtestResults(
      await harness.client.datasets.backtest({
        datasetId: dataset.id,
        ruleSets: [DEFAULT_RULES, edited],
      }),
    )
    const [before, after] = results
    expect(before?.rulesVersion).toBe(1)
    expect(after?.rulesVersion).toBe(2)
    expect(after?.recall ?? 0).toBeLessThan(before?.recall ?? 0)
    expect(after?.ruleHits.map((hit) => hit.rule)).not.toContain('balance_drain')
  })

  it('prints the same figures with `aether backtest <file>`', async () => {
    const results = await backtestResults(
      await harness.client.datasets.backtest({
        datasetId: dataset.id,
        ruleSets: [DEFAULT_RULES],
      }),
    )
    const [result] = results
    const printed: string[] = []
    const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void printed.push(line))
    const progress = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const code = await main([
        'node',
        'aether',
        'backtest',
        SAMPLE_PATH,
        '--data-dir',
        harness.opened.dataDir,
      ])
      expect(code).toBe(0)
    } finally {
      log.mockRestore()
      progress.mockRestore()
    }
    const report = printed.join('\n')
    const figure = (label: string) => new RegExp(`^\\s+${label}\\s+(.+)$`, 'm').exec(report)?.[1]?.trim()
    expect(figure('precision')).toBe(`${((result?.precision ?? 0) * 100).toFixed(1)}%`)
    expect(figure('recall')).toBe(`${((result?.recall ?? 0) * 100).toFixed(1)}%`)
    expect(figure('true positives')).toBe(String(result?.confusion.truePositives))
    expect(figure('false negatives')).toBe(String(result?.confusion.falseNegatives))
  })

  it('publishes a rule set as the next version of the active profile', async () => {
    await harness.opened.workstation.start()
    const edited: RuleSet = { ...DEFAULT_RULES, thresholds: { review: 35, block: 80 } }
    const published = await harness.client.datasets.publishRules({
      ruleSet: edited,
      comment: 'review from 35',
    })
    const versions = await harness.client.triage.rules.versions()
    expect(published.version).toBe(Math.max(...versions.map((version) => version.version)))
    const newest = versions.find((version) => version.version === published.version)
    expect(newest?.comment).toBe('review from 35')
    expect(newest?.definition).toMatchObject({ thresholds: { review: 35, block: 80 } })
    const again = await harness.client.datasets.publishRules({ ruleSet: edited, comment: 'again' })
    expect(again.version).toBe(published.version + 1)
  })
})

describe('exports', () => {
  const parseCsv = (text: string) =>
    text
      .trim()
      .split('\n')
      .map((line) => line.split(','))

  it('writes the grid rows, filtered and sorted, to CSV that reads back the same', async () => {
    const filter = { type: { filterType: 'text' as const, type: 'equals' as const, filter: 'TRANSFER' } }
    const sort = [{ colId: 'amount', sort: 'desc' as const }]
    const exported = await harness.client.datasets.export({
      datasetId: dataset.id,
      source: { kind: 'dataset' },
      filter,
      sort,
      format: 'csv',
      fileName: 'transfers',
    })
    expect(exported.path.endsWith('/datasets/exports/transfers.csv')).toBe(true)
    const [header, ...lines] = parseCsv(await readFile(exported.path, 'utf8'))
    const transfers = sample.filter((row) => row.type === 'TRANSFER')
    expect(exported.rows).toBe(transfers.length)
    expect(lines).toHaveLength(transfers.length)
    const shown = await page({ filter, sort, startRow: 0, endRow: 50 })
    const column = (name: string) => header?.indexOf(name) ?? -1
    expect(lines.slice(0, 50).map((line) => line[column('txn_id')])).toEqual(
      shown.rows.map((row) => row.txn_id),
    )
    expect(lines.slice(0, 50).map((line) => line[column('amount')])).toEqual(
      shown.rows.map((row) => row.amount),
    )

    await expect(
      harness.client.datasets.export({
        datasetId: dataset.id,
        source: { kind: 'dataset' },
        format: 'csv',
        fileName: 'transfers',
      }),
    ).rejects.toMatchObject({ code: 'CONFLICT' })
  })

  it('writes a console result to Parquet', async () => {
    const sql =
      'SELECT CAST(type AS VARCHAR) AS type, count(*) AS transactions FROM transactions GROUP BY 1 ORDER BY 1'
    const exported = await harness.client.datasets.export({
      datasetId: dataset.id,
      source: { kind: 'console', sql },
      format: 'parquet',
      fileName: 'by type',
    })
    const instance = await DuckDBInstance.create(':memory:')
    const connection = await instance.connect()
    try {
      const reader = await connection.runAndReadAll(`SELECT * FROM read_parquet('${exported.path}')`)
      const counts = countBy(sample, (row) => row.type)
      expect(reader.getRowObjectsJson()).toEqual(
        [...counts.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([type, transactions]) => ({ type, transactions: String(transactions) })),
      )
    } finally {
      connection.closeSync()
      instance.closeSync()
    }
  })
})
