import { useQuery } from '@tanstack/react-query'
import { useMemo, useState, type ReactNode } from 'react'
import { DASHBOARD_RANGES, type Dashboard, type DashboardRange } from '../../../../shared/triage-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { EmptyState } from '../../app/EmptyState'
import { ErrorState } from '../../app/ErrorState'
import { LoadingSkeleton } from '../../app/LoadingSkeleton'
import { Page } from '../../app/Page'
import { drillInto } from '../../app/drill'
import { formatAge, formatClock, formatCount, formatTime, timeTitle } from '../../ui/format'
import { EChart, type ChartOption } from '../../ui/EChart'
import { PipelineHealth } from './PipelineHealth'

const RANGE_LABELS: Record<DashboardRange, string> = {
  '15m': '15 min',
  '1h': '1 hour',
  '6h': '6 hours',
  '24h': '24 hours',
  '7d': '7 days',
}

const COLORS = {
  approve: '#2f7d4f',
  review: '#c27a00',
  block: '#c62828',
  forecast: '#6a7fdb',
  actual: '#3a86c8',
}

const axisTime = (bucketSeconds: number) => ({
  type: 'time' as const,
  axisLabel: {
    formatter: (value: number) =>
      bucketSeconds >= 3600
        ? formatTime(new Date(value).toISOString()).slice(0, 10)
        : formatClock(new Date(value).toISOString()),
  },
})

function volumeOption(data: Dashboard): ChartOption {
  const perMinute = 60 / data.bucketSeconds
  const scale = (count: number) => Math.round(count * perMinute * 100) / 100
  const points = data.forecast.points
  return {
    tooltip: { trigger: 'axis' },
    legend: { top: 0, data: ['Actual', 'Forecast', '95 % band', 'Spike'] },
    grid: { left: 56, right: 16, top: 28, bottom: 40 },
    xAxis: { ...axisTime(data.bucketSeconds), name: 'event time', nameLocation: 'middle', nameGap: 26 },
    yAxis: { type: 'value', name: 'transactions / min', min: 0 },
    series: [
      {
        name: 'Actual',
        type: 'line',
        showSymbol: false,
        color: COLORS.actual,
        data: data.throughput.map((p) => [p.t, scale(p.count)]),
      },
      {
        name: 'band-floor',
        type: 'line',
        stack: 'band',
        symbol: 'none',
        lineStyle: { opacity: 0 },
        tooltip: { show: false },
        data: points.map((p) => [p.t, scale(p.lower)]),
      },
      {
        name: '95 % band',
        type: 'line',
        stack: 'band',
        symbol: 'none',
        color: COLORS.forecast,
        lineStyle: { opacity: 0 },
        areaStyle: { opacity: 0.18 },
        data: points.map((p) => [p.t, scale(p.upper - p.lower)]),
      },
      {
        name: 'Forecast',
        type: 'line',
        symbol: 'none',
        color: COLORS.forecast,
        lineStyle: { type: 'dashed' },
        data: points.map((p) => [p.t, scale(p.mean)]),
      },
      {
        name: 'Spike',
        type: 'scatter',
        symbolSize: 10,
        color: COLORS.block,
        data: data.forecast.spikes.map((s) => ({
          value: [s.t, scale(s.count)],
          name: `z = ${s.z.toFixed(1)}, expected ${scale(s.expected).toFixed(1)}`,
        })),
      },
    ],
  }
}

function decisionOption(data: Dashboard): ChartOption {
  const bar = (name: 'approve' | 'review' | 'block') => ({
    name,
    type: 'bar',
    stack: 'decisions',
    color: COLORS[name],
    data: data.decisions.map((d) => [d.t, d[name]]),
  })
  return {
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 56, right: 56, top: 28, bottom: 40 },
    xAxis: axisTime(data.bucketSeconds),
    yAxis: [
      { type: 'value', name: 'transactions' },
      { type: 'value', name: 'fraud rate %', min: 0, splitLine: { show: false } },
    ],
    series: [
      bar('approve'),
      bar('review'),
      bar('block'),
      {
        name: 'fraud rate',
        type: 'line',
        yAxisIndex: 1,
        showSymbol: false,
        color: '#8e44ad',
        data: data.decisions.map((d) => [
          d.t,
          d.fraudRate === null ? null : Math.round(d.fraudRate * 10_000) / 100,
        ]),
      },
    ],
  }
}

function amountOption(data: Dashboard): ChartOption {
  return {
    tooltip: {
      trigger: 'item',
      formatter: (item: { name: string; data: number[] }) =>
        `${item.name}<br/>p5 ${item.data[1]?.toLocaleString()}<br/>p25 ${item.data[2]?.toLocaleString()}<br/>median ${item.data[3]?.toLocaleString()}<br/>p75 ${item.data[4]?.toLocaleString()}<br/>p95 ${item.data[5]?.toLocaleString()}`,
    },
    grid: { left: 72, right: 16, top: 16, bottom: 32 },
    xAxis: {
      type: 'category',
      axisLabel: { interval: 0 },
      data: data.amounts.map((a) => `${a.type} (${formatCount(a.count)})`),
    },
    yAxis: { type: 'log', name: 'amount (log)', logBase: 10 },
    series: [
      {
        name: 'amount',
        type: 'boxplot',
        color: COLORS.actual,
        data: data.amounts.map((a) => [a.p05, a.p25, a.p50, a.p75, a.p95].map((v) => Math.max(v, 0.01))),
      },
    ],
  }
}

function rulesOption(data: Dashboard): ChartOption {
  const rules = [...data.topRules].reverse()
  return {
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    grid: { left: 180, right: 24, top: 8, bottom: 32 },
    xAxis: { type: 'value', name: 'times fired' },
    yAxis: { type: 'category', data: rules.map((r) => r.rule) },
    series: [{ type: 'bar', color: COLORS.review, data: rules.map((r) => r.count) }],
  }
}

function Chart({ title, note, children }: { title: string; note?: ReactNode; children: ReactNode }) {
  return (
    <section className="chart-card">
      <h2>{title}</h2>
      {note && <p className="subtle">{note}</p>}
      {children}
    </section>
  )
}

function Charts({ data }: { data: Dashboard }) {
  const volume = useMemo(() => volumeOption(data), [data])
  const decisions = useMemo(() => decisionOption(data), [data])
  const amounts = useMemo(() => amountOption(data), [data])
  const rules = useMemo(() => rulesOption(data), [data])
  const bucketMs = data.bucketSeconds * 1000
  const drillBucket = (t: string, decision?: 'approve' | 'review' | 'block') =>
    drillInto({
      from: t,
      to: new Date(new Date(t).getTime() + bucketMs).toISOString(),
      ...(decision ? { decisions: [decision] } : {}),
    })
  const spikes = data.forecast.spikes.length
  return (
    <div className="chart-grid">
      <Chart
        title="Is volume normal right now?"
        note={
          data.forecast.note ??
          `${data.forecast.model}; ${spikes === 0 ? 'no spike in the last hour' : `${spikes} spike${spikes > 1 ? 's' : ''} (over 3 standard deviations from a one-step-ahead forecast)`}.`
        }
      >
        <EChart
          option={volume}
          label="Transactions per minute with the forecast of the next hour"
          testId="chart-volume"
          onClick={(event) => {
            const bucket = data.throughput[event.dataIndex]
            if (event.seriesName === 'Actual' && bucket) drillBucket(bucket.t)
          }}
        />
      </Chart>
      <Chart title="What are we deciding, and how much is fraud?">
        <EChart
          option={decisions}
          label="Decisions per bucket and the fraud rate"
          testId="chart-decisions"
          onClick={(event) => {
            const bucket = data.decisions[event.dataIndex]
            const decision = (['approve', 'review', 'block'] as const).find((d) => d === event.seriesName)
            if (bucket) drillBucket(bucket.t, decision)
          }}
        />
      </Chart>
      <Chart title="How large are payments of each type?">
        <EChart
          option={amounts}
          label="Amount distribution by transaction type, log scale"
          testId="chart-amounts"
        />
      </Chart>
      <Chart title="Which rules fire most?">
        <EChart option={rules} label="Rules fired most often in the range" testId="chart-rules" />
      </Chart>
    </div>
  )
}

export function DashboardPage() {
  const [range, setRange] = useState<DashboardRange>('1h')
  const view = useQuery({
    ...orpc.triage.dashboard.queryOptions({ input: { range } }),
    refetchInterval: 30_000,
    placeholderData: (previous) => previous,
  })
  return (
    <Page title="Dashboard">
      <div
        className="toolbar"
        data-testid="dashboard-toolbar"
        data-loading={view.isFetching || view.isPlaceholderData ? 'true' : 'false'}
      >
        <div role="radiogroup" aria-label="Time range" className="range-picker" data-testid="range-picker">
          {DASHBOARD_RANGES.map((value) => (
            <button
              key={value}
              type="button"
              role="radio"
              aria-checked={range === value}
              className="button"
              onClick={() => setRange(value)}
            >
              {RANGE_LABELS[value]}
            </button>
          ))}
        </div>
        <span className="toolbar-spacer" />
        {view.data?.asOf && (
          <span className="subtle" title={timeTitle(view.data.asOf)} data-testid="dashboard-as-of">
            Data up to {formatTime(view.data.asOf)} ({formatAge(view.data.asOf)})
            {view.dataUpdatedAt > 0 &&
              ` · refreshed ${formatAge(new Date(view.dataUpdatedAt).toISOString())}`}
          </span>
        )}
      </div>
      <PipelineHealth />
      {view.isPending ? (
        <LoadingSkeleton label="Loading the dashboard" rows={10} />
      ) : view.isError ? (
        <ErrorState
          title="The dashboard could not be loaded"
          message={describeError(view.error)}
          onRetry={() => void view.refetch()}
        />
      ) : view.data.asOf === null ? (
        <EmptyState title="Nothing to chart yet">
          The charts fill in as soon as the pipeline stores its first transactions.
        </EmptyState>
      ) : (
        <Charts data={view.data} />
      )}
    </Page>
  )
}
