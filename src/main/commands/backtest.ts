import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Command } from 'commander'
import type { BacktestResult, Dataset, ImportEvent } from '../../shared/datasets-contract'
import { DEFAULT_RULES, RuleSet } from '../../shared/rules'
import { DatasetsService } from '../analysis/datasets-service'
import { defaultDataDir } from '../core/paths'

interface BacktestOptions {
  rules?: string
  compare?: string
  dataDir: string
}

const count = (value: number) => value.toLocaleString('en-US')
const percent = (value: number | null) => (value === null ? 'n/a' : `${(value * 100).toFixed(1)}%`)
const money = (value: string) => {
  const [whole = '0', cents = '00'] = value.split('.')
  return `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${cents.padEnd(2, '0')}`
}

async function readRuleSet(path: string): Promise<RuleSet> {
  const parsed = RuleSet.safeParse(JSON.parse(await readFile(path, 'utf8')))
  if (!parsed.success)
    throw new Error(
      `${path} is not a rule set: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    )
  return parsed.data
}

function describeProgress(event: Extract<ImportEvent, { type: 'progress' }>): string {
  const what = event.phase === 'reading' ? 'reading' : 'checking quality'
  const eta = event.etaSeconds === null ? '' : `, ${Math.ceil(event.etaSeconds)} s left`
  return `  ${what} ${event.percent.toFixed(0)}%: ${count(event.rows)} rows, ${event.megabytesPerSecond.toFixed(1)} MB/s${eta}`
}

/** Imports the file (or finds it imported and unchanged), printing progress to stderr. */
async function openDataset(datasets: DatasetsService, file: string): Promise<Dataset> {
  let reimport = false
  for (;;) {
    for await (const event of datasets.open({ path: file, reimport })) {
      if (event.type === 'started') console.error(`Importing ${event.name}…`)
      else if (event.type === 'progress') console.error(describeProgress(event))
      else if (event.type === 'ready') return event.dataset
      else if (event.type === 'changed') {
        console.error(`${event.dataset.name} changed since its import: importing it again.`)
        reimport = true
      } else if (event.type === 'failed') throw new Error(`The import failed: ${event.message}`)
      else throw new Error('The import was cancelled.')
    }
    if (!reimport) throw new Error('The import ended without a dataset.')
  }
}

/** The figures, one line each, one column per rule set. */
export function backtestReport(dataset: Dataset, results: BacktestResult[]): string {
  const lines: [string, ...string[]][] = [
    ['rules version', ...results.map((result) => String(result.rulesVersion))],
    ['alerts (review + block)', ...results.map((r) => count(r.decisions.review + r.decisions.block))],
    ['  review / block', ...results.map((r) => `${count(r.decisions.review)} / ${count(r.decisions.block)}`)],
    ['precision', ...results.map((r) => percent(r.precision))],
    ['recall', ...results.map((r) => percent(r.recall))],
    ['F1', ...results.map((r) => (r.f1 === null ? 'n/a' : r.f1.toFixed(3)))],
    ['true positives', ...results.map((r) => count(r.confusion.truePositives))],
    ['false positives', ...results.map((r) => count(r.confusion.falsePositives))],
    ['false negatives', ...results.map((r) => count(r.confusion.falseNegatives))],
    ['true negatives', ...results.map((r) => count(r.confusion.trueNegatives))],
    ['fraud amount caught', ...results.map((r) => money(r.fraudAmountCaught))],
    ['fraud amount missed', ...results.map((r) => money(r.fraudAmountMissed))],
    ['time (ms)', ...results.map((r) => count(r.millis))],
  ]
  const starts = [
    ...new Set(results.flatMap((r) => r.alertsOverTime.points.map((point) => point.start))),
  ].sort()
  for (const start of starts)
    lines.push([
      `alerts ${results[0]?.alertsOverTime.bucket === 'hour' ? 'at' : 'on'} ${start}`,
      ...results.map((r) => {
        const found = r.alertsOverTime.points.find((entry) => entry.start === start)
        return found === undefined ? '0' : `${count(found.alerts)} (${count(found.fraudCaught)} fraud)`
      }),
    ])
  const rules = [...new Set(results.flatMap((r) => r.ruleHits.map((hit) => hit.rule)))]
  for (const rule of rules)
    lines.push([
      `rule ${rule}`,
      ...results.map((r) => {
        const hit = r.ruleHits.find((entry) => entry.rule === rule)
        return hit === undefined ? 'off' : `${count(hit.fired)} (${count(hit.firedOnFraud)} fraud)`
      }),
    ])
  const width = Math.max(...lines.map(([label]) => label.length)) + 2
  const columnWidth = Math.max(...lines.flatMap(([, ...values]) => values.map((value) => value.length))) + 2
  const header = `Backtest on ${dataset.name}: ${count(dataset.rowCount)} rows, ${count(dataset.fraudCount ?? 0)} labelled fraud (an alert is a review or block)`
  return [
    header,
    ...lines.map(
      ([label, ...values]) =>
        `  ${label.padEnd(width)}${values.map((value) => value.padStart(columnWidth)).join('')}`,
    ),
  ].join('\n')
}

export function registerBacktest(program: Command) {
  program
    .command('backtest')
    .description('Score a labelled PaySim file (CSV, CSV.gz, Parquet) with a rule set and print the figures')
    .argument('<file>', 'a PaySim file; imported once into the datasets folder, re-opened at once after')
    .option('--rules <json>', 'a rule set file (default: the built-in rules)')
    .option('--compare <json>', 'a second rule set, printed side by side')
    .option('--data-dir <dir>', 'user-data folder holding the datasets', defaultDataDir())
    .action(async (file: string, options: BacktestOptions) => {
      const ruleSets = [options.rules === undefined ? DEFAULT_RULES : await readRuleSet(options.rules)]
      if (options.compare !== undefined) ruleSets.push(await readRuleSet(options.compare))
      const datasets = new DatasetsService({ dir: join(options.dataDir, 'datasets') })
      try {
        const dataset = await openDataset(datasets, file)
        const results = await datasets.backtest({ datasetId: dataset.id, ruleSets })
        console.log(backtestReport(dataset, results))
      } finally {
        await datasets.close()
      }
    })
}
