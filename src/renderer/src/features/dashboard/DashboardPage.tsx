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
import {
  DECISION_LABELS,
  formatAge,
  formatClock,
  formatCount,
  formatDate,
  formatMoney,
  formatTimeZoned,
  timeTitle,
  zoneName,
} from '../../ui/format'
import { EChart, type ChartOption } from '../../ui/EChart'
import { GatewaysPanel } from './GatewaysPanel'
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

/** Chart frames hold their labels and axis names inside the card (ECharts 6 outer bounds). */
const GRID = { left: 8, right: 8, top: 30, bottom: 28, outerBoundsMode: 'same', outerBoundsContain: 'all' }
const LEGEND = { bottom: 0, itemHeight: 10, textStyle: { fontSize: 11 } }

/** Time labels fit to the range: clock times within a day, "12-06" dates beyond; never overlapping. */
const axisTime = (rangeSeconds: number) => ({
  type: 'time' as const,
  splitNumber: 6,
  axisLabel: {
    hideOverlap: true,
    // Clear of the value axis's "0" beside the origin, should a tick fall right at the left edge.
    margin: 12,
    // The first and last labels stay inside the plot, clear of the value axes' labels.
    alignMinLabel: 'left' as const,
    alignMaxLabel: 'right' as const,
    formatter: (value: number) => {
      const iso = new Date(value).toISOString()
      return rangeSeconds > 86_400 ? formatDate(iso).slice(5) : formatClock(iso)
    },
  },
})

/** Counts are whole numbers: no "0.5 times fired". */
const countAxis = (name: string) => ({
  type: 'value' as const,
  name,
  min: 0,
  minInterval: 1,
  nameTextStyle: { align: 'left' as const },
  axisLabel: { hideOverlap: true, formatter: (value: number) => compactCount.format(value) },
})

const compactCount = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 })
const compactMoney = new Intl.NumberFormat(undefined, {
  style: 'currency',
  currency: 'USD',
  notation: 'compact',
  maximumFractionDigits: 1,
})

const rangeSecondsOf = (data: Dashboard) =>
  data.from !== null && data.asOf !== null
    ? Math.max(data.bucketSeconds, (Date.parse(data.asOf) - Date.parse(data.from)) / 1000)
    : data.bucketSeconds

/** Bar widths sized to the range: about 12 to 48 bars, whatever the range (6 h bars at 7 days). */
const BAR_SECONDS = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400]
export function barSeconds(rangeSeconds: number, bucketSeconds: number): number {
  const wanted = rangeSeconds / 48
  return BAR_SECONDS.find((s) => s >= wanted && s >= bucketSeconds && s % bucketSeconds === 0) ?? 86_400
}

type DecisionBar = {
  t: string
  approve: number
  review: number
  block: number
  fraudRate: number | null
}

/** The server's buckets merged into bars of `seconds`; the fraud rate weighted by each bucket's decisions. */
export function mergeDecisions(decisions: Dashboard['decisions'], seconds: number): DecisionBar[] {
  const ms = seconds * 1000
  const bars = new Map<number, DecisionBar & { fraud: number; rated: number }>()
  for (const d of decisions) {
    const start = Math.floor(Date.parse(d.t) / ms) * ms
    let bar = bars.get(start)
    if (bar === undefined) {
      bar = {
        t: new Date(start).toISOString(),
        approve: 0,
        review: 0,
        block: 0,
        fraudRate: null,
        fraud: 0,
        rated: 0,
      }
      bars.set(start, bar)
    }
    bar.approve += d.approve
    bar.review += d.review
    bar.block += d.block
    if (d.fraudRate !== null) {
      const decided = d.approve + d.review + d.block
      bar.fraud += d.fraudRate * decided
      bar.rated += decided
    }
  }
  return [...bars.values()].map(({ fraud, rated, ...bar }) => ({
    ...bar,
    fraudRate: rated === 0 ? null : fraud / rated,
  }))
}

function volumeOption(data: Dashboard): ChartOption {
  const perMinute = 60 / data.bucketSeconds
  const scale = (count: number) => Math.round(count * perMinute * 100) / 100
  const points = data.forecast.points
  return {
    tooltip: { trigger: 'axis' },
    legend: { ...LEGEND, data: ['Actual', 'Forecast', '95 % band', 'Spike'] },
    grid: GRID,
    xAxis: axisTime(rangeSecondsOf(data) + (points.length > 0 ? 3600 : 0)),
    yAxis: {
      type: 'value',
      name: 'transactions / min',
      min: 0,
      nameTextStyle: { align: 'left' },
      axisLabel: { hideOverlap: true },
    },
    series: [
      {
        name: 'Actual',
        type: 'line',
        showSymbol: data.throughput.length <= 2,
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

function decisionOption(data: Dashboard, bars: DecisionBar[]): ChartOption {
  const bar = (name: 'approve' | 'review' | 'block') => ({
    name: DECISION_LABELS[name],
    type: 'bar',
    stack: 'decisions',
    color: COLORS[name],
    barMaxWidth: 40,
    data: bars.map((d) => [d.t, d[name]]),
  })
  return {
    tooltip: { trigger: 'axis' },
    legend: LEGEND,
    grid: { ...GRID, right: 8 },
    xAxis: axisTime(rangeSecondsOf(data)),
    yAxis: [
      countAxis('transactions'),
      {
        type: 'value',
        name: 'fraud rate %',
        min: 0,
        splitLine: { show: false },
        nameTextStyle: { align: 'right' },
        axisLabel: { hideOverlap: true, formatter: '{value} %' },
      },
    ],
    series: [
      bar('approve'),
      bar('review'),
      bar('block'),
      {
        name: 'Fraud rate',
        type: 'line',
        yAxisIndex: 1,
        // Buckets without a decision have no rate: the line joins the ones that do, with a dot each.
        connectNulls: true,
        showSymbol: true,
        symbolSize: 5,
        lineStyle: { width: 2 },
        color: '#8e44ad',
        z: 5,
        data: bars.map((d) => [d.t, d.fraudRate === null ? null : Math.round(d.fraudRate * 10_000) / 100]),
      },
    ],
  }
}

function amountOption(data: Dashboard): ChartOption {
  const money = (value: number | undefined) => (value === undefined ? '' : formatMoney(String(value)))
  return {
    tooltip: {
      trigger: 'item',
      formatter: (item: { name: string; data: number[] }) =>
        `${item.name}<br/>p5 ${money(item.data[1])}<br/>p25 ${money(item.data[2])}<br/>median ${money(item.data[3])}<br/>p75 ${money(item.data[4])}<br/>p95 ${money(item.data[5])}`,
    },
    grid: GRID,
    xAxis: {
      type: 'category',
      // The type on one line and its count under it: labels never run into each other.
      axisLabel: {
        interval: 0,
        hideOverlap: true,
        lineHeight: 14,
        verticalAlign: 'top',
        formatter: (type: string) => {
          const count = data.amounts.find((a) => a.type === type)?.count ?? 0
          return `${type}\n${formatCount(count)}`
        },
      },
      data: data.amounts.map((a) => a.type),
    },
    yAxis: {
      type: 'log',
      name: 'amount (USD, log scale)',
      logBase: 10,
      nameTextStyle: { align: 'left' },
      axisLabel: { hideOverlap: true, formatter: (value: number) => compactMoney.format(value) },
    },
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
    grid: { ...GRID, top: 8, bottom: 8 },
    xAxis: {
      ...countAxis('times fired'),
      nameLocation: 'middle',
      nameGap: 24,
      nameTextStyle: {},
    },
    yAxis: {
      type: 'category',
      data: rules.map((r) => r.rule),
      axisLabel: { width: 170, overflow: 'truncate' },
    },
    series: [
      {
        type: 'bar',
        name: 'times fired',
        color: COLORS.review,
        barMaxWidth: 24,
        data: rules.map((r) => r.count),
      },
    ],
  }
}

const describeSeconds = (seconds: number) =>
  seconds < 3600 ? `${seconds / 60} min` : seconds < 86_400 ? `${seconds / 3600} h` : `${seconds / 86_400} d`

/**
 * What the range's end is: the newest event time stored. Live data reads "newest event 12 s ago"; data
 * whose events are older than now (a replay of last month) says that the charts end there, not now.
 */
function AsOf({ asOf, refreshedAt }: { asOf: string; refreshedAt: number }) {
  // Live when the newest event was minutes old as the data was read.
  const live = refreshedAt - Date.parse(asOf) < 10 * 60_000
  return (
    <span
      className="subtle"
      title={timeTitle(asOf)}
      data-testid="dashboard-as-of"
      data-live={live ? 'true' : 'false'}
    >
      {live
        ? `Newest event ${formatTimeZoned(asOf)} (${formatAge(asOf)})`
        : `Charts end at the newest event time stored, ${formatTimeZoned(asOf)}: the events are older than now`}
      {refreshedAt > 0 && ` · refreshed ${formatAge(new Date(refreshedAt).toISOString())}`}
    </span>
  )
}

function Chart({
  title,
  note,
  children,
  testId,
  barSeconds,
}: {
  title: string
  note?: ReactNode
  children: ReactNode
  testId?: string
  barSeconds?: number
}) {
  return (
    <section className="chart-card" data-testid={testId} data-bar-seconds={barSeconds}>
      <h2>{title}</h2>
      {note && <p className="subtle">{note}</p>}
      {children}
    </section>
  )
}

function Charts({ data }: { data: Dashboard }) {
  const volume = useMemo(() => volumeOption(data), [data])
  const bars = useMemo(
    () => mergeDecisions(data.decisions, barSeconds(rangeSecondsOf(data), data.bucketSeconds)),
    [data],
  )
  const decisions = useMemo(() => decisionOption(data, bars), [data, bars])
  const amounts = useMemo(() => amountOption(data), [data])
  const rules = useMemo(() => rulesOption(data), [data])
  const bucketMs = data.bucketSeconds * 1000
  const barMs = barSeconds(rangeSecondsOf(data), data.bucketSeconds) * 1000
  const drillBucket = (t: string, ms: number, decision?: 'approve' | 'review' | 'block') =>
    drillInto({
      from: t,
      to: new Date(new Date(t).getTime() + ms).toISOString(),
      ...(decision ? { decisions: [decision] } : {}),
    })
  const spikes = data.forecast.spikes.length
  return (
    <div className="chart-grid">
      <Chart
        title="Is volume normal right now?"
        note={
          `Event time (${zoneName}), per ${describeSeconds(data.bucketSeconds)}. ` +
          (data.forecast.note ??
            `${data.forecast.model}; ${spikes === 0 ? 'no spike in the last hour' : `${spikes} spike${spikes > 1 ? 's' : ''} (over 3 standard deviations from a one-step-ahead forecast)`}.`)
        }
      >
        <EChart
          option={volume}
          label="Transactions per minute with the forecast of the next hour"
          testId="chart-volume"
          onClick={(event) => {
            const bucket = data.throughput[event.dataIndex]
            if (event.seriesName === 'Actual' && bucket) drillBucket(bucket.t, bucketMs)
          }}
        />
      </Chart>
      <Chart
        title="What are we deciding, and how much is fraud?"
        testId="chart-card-decisions"
        barSeconds={barMs / 1000}
        note={`Event time (${zoneName}), bars of ${describeSeconds(barMs / 1000)}.`}
      >
        <EChart
          option={decisions}
          label="Decisions per bucket and the fraud rate"
          testId="chart-decisions"
          onClick={(event) => {
            const bar = bars[event.dataIndex]
            const decision = (['approve', 'review', 'block'] as const).find(
              (d) => DECISION_LABELS[d] === event.seriesName,
            )
            if (bar) drillBucket(bar.t, barMs, decision)
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
    // Often enough that the charts move while the pipeline stores.
    refetchInterval: 5_000,
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
        {view.data?.asOf && <AsOf asOf={view.data.asOf} refreshedAt={view.dataUpdatedAt} />}
      </div>
      <PipelineHealth />
      <GatewaysPanel />
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
