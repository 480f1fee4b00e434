import { useMutation, useQuery } from '@tanstack/react-query'
import { useMemo, useState } from 'react'
import type { BacktestEvent, BacktestResult, Dataset } from '../../../../shared/datasets-contract'
import { DEFAULT_RULES, describeRule, describeRuleChange, type RuleSet } from '../../../../shared/rules'
import { client, orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { EChart, type ChartOption } from '../../ui/EChart'
import { ruleSetProblems } from '../../ui/rule-set-problems'
import { formatCount, formatMoney, formatPercent, formatSeconds } from './format'
import { RunStatus, useLongRun } from './longRun'

/** B starts as a copy of A, numbered as the version it would be published as. */
const editableCopy = (rules: RuleSet, inForce: number): RuleSet => ({
  ...structuredClone(rules),
  version: inForce + 1,
})

interface VersionChoice {
  version: number
  definition: RuleSet
}

/** B, and the version that was in force when it was copied: publishing is refused if that changed. */
interface Copy {
  rules: RuleSet
  from: number
  inForceAtCopy: number
}

/** Version A as it stands: each rule, on or off, with its weight. */
function RuleSetSummary({ rules }: { rules: RuleSet }) {
  return (
    <table className="ds-table" data-testid="rules-summary">
      <thead>
        <tr>
          <th>On</th>
          <th>Rule</th>
          <th className="num">Weight</th>
        </tr>
      </thead>
      <tbody>
        {rules.rules.map((rule) => (
          <tr key={rule.id} className={rule.enabled ? undefined : 'subtle'}>
            <td>{rule.enabled ? 'on' : 'off'}</td>
            <td title={describeRule(rule)}>{rule.id}</td>
            <td className="num">{rule.weight}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

/** Version B: thresholds, and each rule on or off with its weight. */
function RuleSetEditor({ rules, onChange }: { rules: RuleSet; onChange: (next: RuleSet) => void }) {
  const threshold = (level: 'review' | 'block', value: number) =>
    onChange({ ...rules, thresholds: { ...rules.thresholds, [level]: value } })
  return (
    <div className="ds-rule-editor" data-testid="rules-editor">
      <div className="ds-thresholds">
        {(['review', 'block'] as const).map((level) => (
          <label key={level} className="ds-inline-field">
            {level === 'review' ? 'Review from score' : 'Block from score'}
            <input
              type="number"
              min={1}
              max={100}
              value={rules.thresholds[level]}
              onChange={(event) => threshold(level, Number(event.target.value))}
              data-testid={`threshold-${level}`}
            />
          </label>
        ))}
      </div>
      <table className="ds-table">
        <thead>
          <tr>
            <th>On</th>
            <th>Rule</th>
            <th className="num">Weight</th>
          </tr>
        </thead>
        <tbody>
          {rules.rules.map((rule, index) => (
            <tr key={rule.id}>
              <td>
                <input
                  type="checkbox"
                  checked={rule.enabled}
                  aria-label={`${rule.id} on`}
                  onChange={(event) =>
                    onChange({
                      ...rules,
                      rules: rules.rules.map((r, i) =>
                        i === index ? { ...r, enabled: event.target.checked } : r,
                      ),
                    })
                  }
                  data-testid={`rule-enabled-${rule.id}`}
                />
              </td>
              <td title={describeRule(rule)}>{rule.id}</td>
              <td className="num">
                <input
                  type="number"
                  min={0}
                  max={100}
                  value={rule.weight}
                  aria-label={`${rule.id} weight`}
                  className="ds-weight"
                  onChange={(event) =>
                    onChange({
                      ...rules,
                      rules: rules.rules.map((r, i) =>
                        i === index ? { ...r, weight: Number(event.target.value) } : r,
                      ),
                    })
                  }
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function Confusion({ result }: { result: BacktestResult }) {
  const { truePositives, falsePositives, falseNegatives, trueNegatives } = result.confusion
  return (
    <table
      className="ds-table ds-confusion"
      aria-label={`Confusion matrix of version ${result.rulesVersion}`}
    >
      <thead>
        <tr>
          <th />
          <th className="num">Fraud</th>
          <th className="num">Legitimate</th>
        </tr>
      </thead>
      <tbody>
        <tr>
          <th>Alert</th>
          <td className="num ok">{formatCount(truePositives)}</td>
          <td className="num bad">{formatCount(falsePositives)}</td>
        </tr>
        <tr>
          <th>No alert</th>
          <td className="num bad">{formatCount(falseNegatives)}</td>
          <td className="num">{formatCount(trueNegatives)}</td>
        </tr>
      </tbody>
    </table>
  )
}

const FIGURES: [string, (result: BacktestResult) => string][] = [
  ['Precision (alerts that are fraud)', (r) => formatPercent(r.precision)],
  ['Recall (fraud that is alerted)', (r) => formatPercent(r.recall)],
  ['F1', (r) => (r.f1 === null ? 'n/a' : r.f1.toFixed(3))],
  ['Alerts (review + block)', (r) => formatCount(r.decisions.review + r.decisions.block)],
  ['Review / block', (r) => `${formatCount(r.decisions.review)} / ${formatCount(r.decisions.block)}`],
  ['Fraud amount caught', (r) => formatMoney(r.fraudAmountCaught)],
  ['Fraud amount missed', (r) => formatMoney(r.fraudAmountMissed)],
  ['Scored in', (r) => formatSeconds(r.millis / 1000)],
]

/**
 * A bucket's axis label, short so the labels of a narrow chart never collide: "05:00" for an hour, the day
 * ("01-01") under the first hour of each day; "01-01" for a day, the year under the first day of each year.
 */
function bucketLabel(start: string, index: number, unit: 'hour' | 'day'): string {
  const match = /^(\d{4})-(\d{2}-\d{2})(?: (\d{2}:\d{2}))?$/.exec(start)
  if (match === null) return start
  const [, year, day, hour] = match
  if (unit === 'hour' && hour !== undefined) return index === 0 || hour === '00:00' ? `${hour}\n${day}` : hour
  return index === 0 || day === '01-01' ? `${day}\n${year}` : (day ?? start)
}

/** Alerts per hour when the dataset spans a few days (PaySim's steps are hours), per day otherwise; UTC. */
function AlertsOverTime({ results }: { results: BacktestResult[] }) {
  const hourly = results[0]?.alertsOverTime.bucket === 'hour'
  const unit = hourly ? 'hour' : 'day'
  const option = useMemo<ChartOption>(() => {
    const starts = [
      ...new Set(results.flatMap((result) => result.alertsOverTime.points.map((point) => point.start))),
    ].sort()
    return {
      tooltip: { trigger: 'axis' },
      legend: { top: 0, left: 'center' },
      grid: { left: 64, right: 16, top: 36, bottom: 60 },
      xAxis: {
        type: 'category',
        data: starts,
        name: `event ${unit} (UTC)`,
        nameLocation: 'middle',
        nameGap: 42,
        axisLabel: {
          hideOverlap: true,
          lineHeight: 16,
          formatter: (start: string, index: number) => bucketLabel(start, index, unit),
        },
      },
      // The axis title runs along the axis, never under the legend.
      yAxis: {
        type: 'value',
        name: `alerts per ${unit}`,
        nameLocation: 'middle',
        nameGap: 48,
        minInterval: 1,
      },
      series: results.map((result, index) => ({
        name: `Version ${result.rulesVersion}${index === 0 ? ' (A)' : ' (B)'}`,
        type: 'bar',
        data: starts.map(
          (start) => result.alertsOverTime.points.find((point) => point.start === start)?.alerts ?? 0,
        ),
      })),
    }
  }, [results, unit])
  return (
    <EChart option={option} label={`Alerts per ${unit} of each version`} testId="chart-alerts-over-time" />
  )
}

function Results({ results }: { results: BacktestResult[] }) {
  const rules = [...new Set(results.flatMap((result) => result.ruleHits.map((hit) => hit.rule)))]
  return (
    <div className="ds-backtest-results" data-testid="backtest-results">
      <table className="ds-table ds-compare">
        <thead>
          <tr>
            <th>How many alerts, how good?</th>
            {results.map((result, index) => (
              <th key={index} className="num">
                {index === 0 ? 'A' : 'B'}: version {result.rulesVersion}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {FIGURES.map(([label, figure]) => (
            <tr key={label}>
              <th>{label}</th>
              {results.map((result, index) => (
                <td
                  key={index}
                  className="num"
                  data-testid={`backtest-${label.split(' ')[0]?.toLowerCase()}-${index}`}
                >
                  {figure(result)}
                </td>
              ))}
            </tr>
          ))}
          <tr>
            <th>Confusion matrix</th>
            {results.map((result, index) => (
              <td key={index}>
                <Confusion result={result} />
              </td>
            ))}
          </tr>
          {rules.map((rule) => (
            <tr key={rule}>
              <th className="subtle">Rule {rule} fired</th>
              {results.map((result, index) => {
                const hit = result.ruleHits.find((entry) => entry.rule === rule)
                return (
                  <td key={index} className="num subtle">
                    {hit === undefined
                      ? 'off'
                      : `${formatCount(hit.fired)} (${formatCount(hit.firedOnFraud)} on fraud)`}
                  </td>
                )
              })}
            </tr>
          ))}
        </tbody>
      </table>
      <AlertsOverTime results={results} />
    </div>
  )
}

/**
 * Two rule versions over the labelled dataset, side by side, scored by the same SQL the streaming rules
 * compile to; the better one can be published as the next version of the active profile's rules.
 */
export function BacktestView({ dataset }: { dataset: Dataset }) {
  const versions = useQuery(orpc.triage.rules.versions.queryOptions())
  // Without a store to ask (it failed to open), the built-in rules are the only version there is.
  const choices: VersionChoice[] | undefined =
    versions.data ??
    (versions.isError ? [{ version: DEFAULT_RULES.version, definition: DEFAULT_RULES }] : undefined)
  if (choices === undefined || choices[0] === undefined)
    return (
      <p className="subtle" role="status">
        Reading the rule versions…
      </p>
    )
  return <Backtest dataset={dataset} choices={choices} inForce={choices[0]} />
}

function Backtest({
  dataset,
  choices,
  inForce,
}: {
  dataset: Dataset
  choices: VersionChoice[]
  inForce: VersionChoice
}) {
  const [aVersion, setAVersion] = useState(inForce.version)
  const a = choices.find((choice) => choice.version === aVersion) ?? inForce
  const [copy, setCopy] = useState<Copy>(() => ({
    rules: editableCopy(inForce.definition, inForce.version),
    from: inForce.version,
    inForceAtCopy: inForce.version,
  }))
  const edited = copy.rules
  const setEdited = (rules: RuleSet) => setCopy({ ...copy, rules })
  const [comment, setComment] = useState('')
  const status = useQuery(orpc.app.status.queryOptions())
  const backtest = useLongRun<BacktestEvent>()
  const running = backtest.state.status === 'running'
  const results = backtest.state.status === 'done' ? backtest.state.final.results : undefined
  const publish = useMutation(orpc.datasets.publishRules.mutationOptions())
  const changes = describeRuleChange(a.definition, edited)
  const problems = ruleSetProblems(edited)

  function compareWith(version: number) {
    const chosen = choices.find((choice) => choice.version === version) ?? inForce
    setAVersion(chosen.version)
    setCopy({
      rules: editableCopy(chosen.definition, inForce.version),
      from: chosen.version,
      inForceAtCopy: inForce.version,
    })
    publish.reset()
  }

  return (
    <div className="ds-backtest">
      <div className="ds-versions">
        <section className="ds-version" aria-labelledby="ds-version-a">
          <h3 id="ds-version-a" data-testid="backtest-a">
            A: version {a.version}
            {a.version === inForce.version ? ' (in force)' : ` (version ${inForce.version} is in force)`}
          </h3>
          <label className="ds-inline-field">
            Compare against
            <select
              value={a.version}
              onChange={(event) => compareWith(Number(event.target.value))}
              data-testid="backtest-a-version"
            >
              {choices.map((choice) => (
                <option key={choice.version} value={choice.version}>
                  Version {choice.version}
                  {choice.version === inForce.version ? ' (in force)' : ''}
                </option>
              ))}
            </select>
          </label>
          <p className="subtle">
            Review from score {a.definition.thresholds.review}, block from {a.definition.thresholds.block}.
          </p>
          <RuleSetSummary rules={a.definition} />
        </section>
        <section className="ds-version" aria-labelledby="ds-version-b">
          <h3 id="ds-version-b" data-testid="backtest-b">
            B: a copy of version {copy.from}, edited
          </h3>
          <RuleSetEditor rules={edited} onChange={setEdited} />
          <p className={problems.length > 0 ? 'inline-error' : 'subtle'} data-testid="rules-changes">
            {problems.length > 0
              ? problems.join(' ')
              : changes.length === 0
                ? 'The same as A so far.'
                : `Changes from A: ${changes.join('; ')}.`}
          </p>
        </section>
      </div>
      <div className="form-actions">
        <button
          type="button"
          className="button primary"
          onClick={() =>
            backtest.start((signal) =>
              client.datasets.backtest(
                { datasetId: dataset.id, ruleSets: [a.definition, edited] },
                { signal },
              ),
            )
          }
          disabled={running || problems.length > 0}
          data-testid="backtest-run"
        >
          {running ? 'Scoring every row…' : 'Run the backtest'}
        </button>
        <span className="subtle">An alert is a review or block decision; fraud is the isFraud label.</span>
      </div>
      <RunStatus run={backtest} what="the backtest" testId="backtest-progress" />
      {results && <Results results={results} />}
      {results && (
        <div className="ds-publish form-actions">
          <input
            value={comment}
            onChange={(event) => setComment(event.target.value)}
            placeholder="Why B is better"
            aria-label="Comment for the published version"
            maxLength={500}
          />
          <button
            type="button"
            className="button"
            onClick={() => publish.mutate({ ruleSet: edited, comment, baseVersion: copy.inForceAtCopy })}
            disabled={publish.isPending || changes.length === 0 || problems.length > 0}
            data-testid="publish-rules"
          >
            Publish B to {status.data?.profileName ?? 'the active profile'}
          </button>
          {publish.data && (
            <span role="status" data-testid="publish-result">
              Published as version {publish.data.version}.
            </span>
          )}
          {publish.isError && (
            <span className="inline-error" role="alert" data-testid="publish-error">
              {describeError(publish.error)}
            </span>
          )}
        </div>
      )}
    </div>
  )
}
