import { useQuery } from '@tanstack/react-query'
import { useMemo, type ReactNode } from 'react'
import type { AnalysisName, AnalysisResult, FilterModel } from '../../../../shared/datasets-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { ErrorState } from '../../app/ErrorState'
import { LoadingSkeleton } from '../../app/LoadingSkeleton'
import { EChart, type ChartOption } from '../../ui/EChart'
import { formatCount, formatMoney } from './format'

/** Filters a chart's click applies to the grid (AG Grid's filter model). */
const text = (value: string) => ({ filterType: 'text' as const, type: 'equals' as const, filter: value })
const number = (value: number) => ({ filterType: 'number' as const, type: 'equals' as const, filter: value })
const fraudOnly = (seriesName: string | undefined): FilterModel =>
  seriesName === 'Fraud'
    ? { label: text('true') }
    : seriesName === 'Legitimate'
      ? { label: text('false') }
      : {}

const FRAUD_COLOR = '#d9534f'
const LEGIT_COLOR = '#5b8ff9'

type Result<N extends AnalysisName> = Extract<AnalysisResult, { analysis: N }>

function useAnalysis<N extends AnalysisName>(datasetId: string, analysis: N) {
  const query = useQuery(
    orpc.datasets.analysis.queryOptions({ input: { datasetId, analysis }, staleTime: Infinity }),
  )
  return { ...query, result: query.data?.result as Result<N> | undefined, millis: query.data?.millis }
}

function ChartCard<N extends AnalysisName>({
  question,
  note,
  analysis,
  datasetId,
  children,
}: {
  question: string
  note: string
  analysis: N
  datasetId: string
  children: (result: Result<N>) => ReactNode
}) {
  const query = useAnalysis(datasetId, analysis)
  return (
    <section className="chart-card ds-chart-card" aria-label={question} data-testid={`analysis-${analysis}`}>
      <h3>{question}</h3>
      <p className="subtle">
        {note}
        {query.millis !== undefined && ` · ${formatCount(query.millis)} ms`}
      </p>
      {query.isPending ? (
        <LoadingSkeleton label={`Loading: ${question}`} rows={5} />
      ) : query.isError ? (
        <ErrorState
          title="This analysis failed"
          message={describeError(query.error)}
          onRetry={() => void query.refetch()}
        />
      ) : query.result ? (
        children(query.result)
      ) : null}
    </section>
  )
}

const tooltip = { trigger: 'axis', axisPointer: { type: 'shadow' } }

function FraudByType({
  result,
  onDrill,
}: {
  result: Result<'fraud-by-type'>
  onDrill: (filter: FilterModel) => void
}) {
  const option = useMemo<ChartOption>(
    () => ({
      tooltip: {
        trigger: 'axis',
        formatter: (items: { dataIndex: number }[]) => {
          const row = result.rows[items[0]?.dataIndex ?? 0]
          return row
            ? `${row.type}<br/>${formatCount(row.fraud)} fraud of ${formatCount(row.transactions)} (${(row.rate * 100).toFixed(3)}%)`
            : ''
        },
      },
      grid: { left: 56, right: 16, top: 32, bottom: 36 },
      xAxis: { type: 'category', data: result.rows.map((row) => row.type) },
      yAxis: { type: 'value', name: 'fraud rate (%)' },
      series: [
        {
          name: 'Fraud',
          type: 'bar',
          data: result.rows.map((row) => Number((row.rate * 100).toFixed(4))),
          itemStyle: { color: FRAUD_COLOR },
        },
      ],
    }),
    [result],
  )
  return (
    <EChart
      option={option}
      label="Fraud rate by transaction type"
      testId="chart-fraud-by-type"
      onClick={({ dataIndex }) => {
        const row = result.rows[dataIndex]
        if (row) onDrill({ type: text(row.type), label: text('true') })
      }}
    />
  )
}

function AmountDistribution({
  result,
  onDrill,
}: {
  result: Result<'amount-distribution'>
  onDrill: (filter: FilterModel) => void
}) {
  const option = useMemo<ChartOption>(
    () => ({
      tooltip,
      legend: { data: ['Legitimate', 'Fraud'], top: 0, left: 'center' },
      grid: { left: 64, right: 56, top: 32, bottom: 48 },
      xAxis: {
        type: 'category',
        name: 'amount (USD, log scale)',
        nameLocation: 'middle',
        nameGap: 30,
        data: result.bins.map((bin) => formatMoney(String(bin.lower)).replace(/\.00$/, '')),
      },
      yAxis: [
        { type: 'value', name: 'legitimate' },
        { type: 'value', name: 'fraud', splitLine: { show: false } },
      ],
      series: [
        {
          name: 'Legitimate',
          type: 'bar',
          data: result.bins.map((bin) => bin.legit),
          itemStyle: { color: LEGIT_COLOR },
        },
        {
          name: 'Fraud',
          type: 'line',
          yAxisIndex: 1,
          data: result.bins.map((bin) => bin.fraud),
          itemStyle: { color: FRAUD_COLOR },
        },
      ],
    }),
    [result],
  )
  return (
    <EChart
      option={option}
      label="Amounts of legitimate and fraudulent transactions"
      testId="chart-amount-distribution"
      onClick={({ dataIndex, seriesName }) => {
        const bin = result.bins[dataIndex]
        if (!bin) return
        onDrill({
          amount: {
            filterType: 'number',
            operator: 'AND',
            conditions: [
              { filterType: 'number', type: 'greaterThanOrEqual', filter: bin.lower },
              { filterType: 'number', type: 'lessThan', filter: bin.upper },
            ],
          },
          ...fraudOnly(seriesName),
        })
      }}
    />
  )
}

function VolumeByStep({
  result,
  onDrill,
}: {
  result: Result<'volume-by-step'>
  onDrill: (filter: FilterModel) => void
}) {
  const option = useMemo<ChartOption>(
    () => ({
      tooltip: { trigger: 'axis' },
      legend: { data: ['Transactions', 'Fraud'], top: 0, left: 'center' },
      grid: { left: 64, right: 56, top: 32, bottom: 48 },
      xAxis: {
        type: 'category',
        name: 'step (hour of the simulation)',
        nameLocation: 'middle',
        nameGap: 30,
        data: result.points.map((point) => point.step),
      },
      yAxis: [
        { type: 'value', name: 'transactions' },
        { type: 'value', name: 'fraud', splitLine: { show: false } },
      ],
      series: [
        {
          name: 'Transactions',
          type: 'line',
          showSymbol: false,
          data: result.points.map((point) => point.transactions),
          itemStyle: { color: LEGIT_COLOR },
        },
        {
          name: 'Fraud',
          type: 'bar',
          yAxisIndex: 1,
          data: result.points.map((point) => point.fraud),
          itemStyle: { color: FRAUD_COLOR },
        },
      ],
    }),
    [result],
  )
  return (
    <EChart
      option={option}
      label="Transactions and fraud per hour"
      testId="chart-volume-by-step"
      onClick={({ dataIndex, seriesName }) => {
        const point = result.points[dataIndex]
        if (point) onDrill({ step: number(point.step), ...fraudOnly(seriesName) })
      }}
    />
  )
}

function BalanceDrain({
  result,
  onDrill,
}: {
  result: Result<'balance-drain'>
  onDrill: (filter: FilterModel) => void
}) {
  const option = useMemo<ChartOption>(
    () => ({
      tooltip,
      legend: { data: ['Legitimate', 'Fraud'], top: 0, left: 'center' },
      grid: { left: 150, right: 24, top: 32, bottom: 40 },
      xAxis: {
        type: 'log',
        name: 'transactions (log)',
        nameLocation: 'middle',
        nameGap: 26,
      },
      yAxis: {
        type: 'category',
        data: result.rows.map((row) => `${row.type}${row.emptiesAccount ? ' · whole balance' : ' · part'}`),
      },
      series: [
        {
          name: 'Legitimate',
          type: 'bar',
          data: result.rows.map((row) => Math.max(row.transactions - row.fraud, 0) || null),
          itemStyle: { color: LEGIT_COLOR },
        },
        {
          name: 'Fraud',
          type: 'bar',
          data: result.rows.map((row) => row.fraud || null),
          itemStyle: { color: FRAUD_COLOR },
        },
      ],
    }),
    [result],
  )
  return (
    <EChart
      option={option}
      label="TRANSFER and CASH_OUT that move the whole balance, legitimate and fraud"
      testId="chart-balance-drain"
      onClick={({ dataIndex, seriesName }) => {
        const row = result.rows[dataIndex]
        if (row)
          onDrill({
            type: text(row.type),
            empties_account: text(String(row.emptiesAccount)),
            ...fraudOnly(seriesName),
          })
      }}
    />
  )
}

const compactMoney = new Intl.NumberFormat(undefined, {
  style: 'currency',
  currency: 'USD',
  notation: 'compact',
  maximumFractionDigits: 1,
})

function MuleAccounts({
  result,
  onDrill,
}: {
  result: Result<'mule-accounts'>
  onDrill: (filter: FilterModel) => void
}) {
  const rows = useMemo(() => [...result.rows].reverse(), [result])
  const option = useMemo<ChartOption>(
    () => ({
      tooltip: {
        trigger: 'axis',
        axisPointer: { type: 'shadow' },
        formatter: (items: { dataIndex: number }[]) => {
          const row = rows[items[0]?.dataIndex ?? 0]
          return row
            ? `${row.account}<br/>${formatCount(row.fraudReceived)} fraud received (${formatMoney(row.fraudAmount)})<br/>${formatCount(row.received)} received in all`
            : ''
        },
      },
      grid: { left: 8, right: 16, top: 8, bottom: 8, outerBoundsMode: 'same', outerBoundsContain: 'all' },
      xAxis: {
        type: 'value',
        name: 'fraudulent amount received (USD)',
        nameLocation: 'middle',
        nameGap: 26,
        axisLabel: { hideOverlap: true, formatter: (value: number) => compactMoney.format(value) },
      },
      yAxis: { type: 'category', data: rows.map((row) => row.account) },
      series: [
        {
          name: 'Fraud',
          type: 'bar',
          data: rows.map((row) => Number(row.fraudAmount)),
          itemStyle: { color: FRAUD_COLOR },
        },
      ],
    }),
    [rows],
  )
  return (
    <EChart
      option={option}
      label="Accounts that received the most fraud"
      testId="chart-mule-accounts"
      onClick={({ dataIndex }) => {
        const row = rows[dataIndex]
        if (row) onDrill({ counterparty_id: text(row.account) })
      }}
    />
  )
}

function Chains({
  result,
  onDrill,
}: {
  result: Result<'transfer-cashout-chains'>
  onDrill: (filter: FilterModel) => void
}) {
  const option = useMemo<ChartOption>(
    () => ({
      tooltip,
      legend: { data: ['Legitimate', 'Fraud'], top: 0, left: 'center' },
      grid: { left: 170, right: 24, top: 32, bottom: 40 },
      xAxis: {
        type: 'value',
        name: 'chains',
        nameLocation: 'middle',
        nameGap: 26,
        minInterval: 1,
      },
      yAxis: { type: 'category', data: ['same account', 'same amount, same hour'] },
      series: [
        {
          name: 'Legitimate',
          type: 'bar',
          stack: 'chains',
          data: [
            result.byAccount.chains - result.byAccount.fraudChains,
            result.byAmount.chains - result.byAmount.fraudChains,
          ],
          itemStyle: { color: LEGIT_COLOR },
        },
        {
          name: 'Fraud',
          type: 'bar',
          stack: 'chains',
          data: [result.byAccount.fraudChains, result.byAmount.fraudChains],
          itemStyle: { color: FRAUD_COLOR },
        },
      ],
    }),
    [result],
  )
  return (
    <>
      <EChart option={option} label="TRANSFER then CASH_OUT chains" testId="chart-transfer-cashout-chains" />
      <table className="ds-table ds-chains" data-testid="chains-table">
        <thead>
          <tr>
            <th>Link</th>
            <th className="num">Lines</th>
            <th>Received by → cashed out by</th>
            <th className="num">Amount</th>
            <th>Fraud</th>
          </tr>
        </thead>
        <tbody>
          {result.rows.slice(0, 8).map((chain) => (
            <tr key={`${chain.transferSeq}-${chain.cashOutSeq}`}>
              <td>{chain.link === 'account' ? 'account' : 'amount'}</td>
              <td className="num">
                <button
                  type="button"
                  className="button ds-link"
                  onClick={() =>
                    onDrill({
                      seq: {
                        filterType: 'number',
                        operator: 'OR',
                        conditions: [number(chain.transferSeq), number(chain.cashOutSeq)],
                      },
                    })
                  }
                >
                  {chain.transferSeq} → {chain.cashOutSeq}
                </button>
              </td>
              <td className="mono">
                {chain.recipient} → {chain.cashOutAccount}
              </td>
              <td className="num">{formatMoney(chain.amount)}</td>
              <td>{chain.fraud ? 'yes' : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  )
}

/** The canned questions about a PaySim dataset; a click on a bar or a point opens those rows in the grid. */
export function AnalysesView({
  datasetId,
  onDrill,
}: {
  datasetId: string
  onDrill: (filter: FilterModel) => void
}) {
  return (
    <div className="chart-grid ds-charts">
      <ChartCard
        datasetId={datasetId}
        analysis="fraud-by-type"
        question="Which transaction types carry fraud?"
        note="Share of each type labelled fraud; a bar opens its fraud in the grid"
      >
        {(result) => <FraudByType result={result} onDrill={onDrill} />}
      </ChartCard>
      <ChartCard
        datasetId={datasetId}
        analysis="amount-distribution"
        question="Are fraudulent amounts unusually large?"
        note="Transactions per amount band, a quarter of a decade wide"
      >
        {(result) => <AmountDistribution result={result} onDrill={onDrill} />}
      </ChartCard>
      <ChartCard
        datasetId={datasetId}
        analysis="volume-by-step"
        question="When does fraud happen?"
        note="Transactions and fraud per hour (PaySim step)"
      >
        {(result) => <VolumeByStep result={result} onDrill={onDrill} />}
      </ChartCard>
      <ChartCard
        datasetId={datasetId}
        analysis="balance-drain"
        question="Do fraudsters empty the account?"
        note="TRANSFER and CASH_OUT that move the whole balance of the paying account, against the rest"
      >
        {(result) => <BalanceDrain result={result} onDrill={onDrill} />}
      </ChartCard>
      <ChartCard
        datasetId={datasetId}
        analysis="mule-accounts"
        question="Which accounts receive the most fraud?"
        note="Candidate mule accounts: the 20 receivers of the largest fraudulent amounts"
      >
        {(result) => <MuleAccounts result={result} onDrill={onDrill} />}
      </ChartCard>
      <ChartCard
        datasetId={datasetId}
        analysis="transfer-cashout-chains"
        question="Is money moved in and cashed out right after?"
        note="A TRANSFER followed by a CASH_OUT from the receiving account — or, as PaySim links them, of the same amount in the same hour"
      >
        {(result) => <Chains result={result} onDrill={onDrill} />}
      </ChartCard>
    </div>
  )
}
