import { useQuery } from '@tanstack/react-query'
import type { BalanceCheck, Dataset, QualityReport } from '../../../../shared/datasets-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { ErrorState } from '../../app/ErrorState'
import { LoadingSkeleton } from '../../app/LoadingSkeleton'
import { formatCount, formatSeconds, formatTime, formatTimeZoned, isoOf, isTimeType } from './format'

/** A min or max as the analyst reads figures: grouped digits, the column's decimals; times as times. */
function formatExtreme(value: string | null, type: string): string {
  if (value === null) return '–'
  if (isTimeType(type)) {
    if (type.startsWith('DATE')) return value
    return formatTime(isoOf(value)) === '' ? value : formatTimeZoned(isoOf(value))
  }
  const number = Number(value)
  if (!Number.isFinite(number)) return value
  const decimals = /^DECIMAL\(\d+,(\d+)\)$/.exec(type)?.[1]
  const digits = decimals !== undefined ? Number(decimals) : (value.split('.')[1]?.length ?? 0)
  return number.toLocaleString(undefined, {
    minimumFractionDigits: Math.min(digits, 6),
    maximumFractionDigits: Math.min(digits, 6),
  })
}

const lines = (list: number[], total: number) =>
  list.length === 0
    ? ''
    : `line${list.length > 1 ? 's' : ''} ${list.join(', ')}${total > list.length ? ', …' : ''}`

function Finding({ ok, children, testId }: { ok: boolean; children: React.ReactNode; testId: string }) {
  return (
    <li className="ds-finding" data-ok={String(ok)} data-testid={testId}>
      <span className={ok ? 'ok' : 'bad'} aria-hidden="true">
        {ok ? '✓' : '!'}
      </span>
      <span>{children}</span>
    </li>
  )
}

function BalanceFinding({
  label,
  check,
  rows,
  testId,
}: {
  label: string
  check: BalanceCheck
  rows: number
  testId: string
}) {
  return (
    <Finding ok={check.rows === 0} testId={testId}>
      {label}: {formatCount(check.rows)} of {formatCount(rows)} rows (
      {((check.rows / Math.max(rows, 1)) * 100).toFixed(1)}%), {formatCount(check.fraudRows)} of them fraud.{' '}
      {lines(check.lines, check.rows)}
    </Finding>
  )
}

function Report({ dataset, report }: { dataset: Dataset; report: QualityReport }) {
  const typeErrors = report.columns.reduce((sum, column) => sum + column.typeErrors, 0)
  return (
    <div className="ds-quality" data-testid="quality-report">
      <ul className="ds-findings">
        <Finding ok testId="quality-rows">
          <strong>{formatCount(report.rowCount)}</strong> rows imported
          {report.paysim && (
            <>
              , <strong>{formatCount(report.paysim.fraudRows)}</strong> labelled fraud
            </>
          )}
          . Checked in {formatSeconds(report.millis / 1000)}.
        </Finding>
        <Finding ok={report.rejectedLines === 0} testId="quality-rejects">
          {report.rejectedLines === 0
            ? 'Every line could be read.'
            : `${formatCount(report.rejectedLines)} lines could not be read and were set aside; every other row was kept.`}
        </Finding>
        <Finding ok={typeErrors === 0} testId="quality-type-errors">
          {typeErrors === 0
            ? 'No value had the wrong type.'
            : `${formatCount(typeErrors)} values had the wrong type (listed by column below).`}
        </Finding>
        <Finding ok={report.duplicates.extraRows === 0} testId="quality-duplicates">
          {report.duplicates.extraRows === 0
            ? `No duplicates (same ${report.duplicates.key}).`
            : `${formatCount(report.duplicates.extraRows)} rows repeat an earlier row (same ${report.duplicates.key}): ${lines(report.duplicates.lines, report.duplicates.extraRows)}.`}
        </Finding>
        {report.paysim && (
          <>
            <Finding ok={report.paysim.nonPositiveAmounts === 0} testId="quality-amounts">
              {formatCount(report.paysim.nonPositiveAmounts)} amounts are zero or less. Steps run from{' '}
              {report.paysim.stepMin ?? '?'} to {report.paysim.stepMax ?? '?'} (hours from{' '}
              {dataset.columns.some((c) => c.name === 'ts') ? '1 Jan 2026' : 'the start'}).
            </Finding>
            <BalanceFinding
              label="Paying account balances that do not add up (balance before − amount ≠ balance after)"
              check={report.paysim.originBalanceErrors}
              rows={report.rowCount}
              testId="quality-origin-balance"
            />
            <BalanceFinding
              label="Receiving customer balances that do not add up for TRANSFER and CASH_OUT"
              check={report.paysim.destinationBalanceErrors}
              rows={report.rowCount}
              testId="quality-destination-balance"
            />
            <li className="subtle">
              The simulator flagged {formatCount(report.paysim.flaggedRows)} rows itself (isFlaggedFraud).
            </li>
          </>
        )}
      </ul>

      {report.rejects.length > 0 && (
        <section aria-labelledby="ds-rejects-heading">
          <h3 id="ds-rejects-heading">Lines set aside</h3>
          <table className="ds-table" data-testid="quality-reject-lines">
            <thead>
              <tr>
                <th className="num">Line</th>
                <th>Column</th>
                <th>Problem</th>
                <th>Text of the line</th>
              </tr>
            </thead>
            <tbody>
              {report.rejects.map((reject) => (
                <tr key={reject.line}>
                  <td className="num">{reject.line}</td>
                  <td>{reject.column ?? ''}</td>
                  <td>{reject.message}</td>
                  <td className="mono">{reject.text}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}

      <section aria-labelledby="ds-columns-heading">
        <h3 id="ds-columns-heading">Columns as read from the file</h3>
        <table className="ds-table" data-testid="quality-columns">
          <thead>
            <tr>
              <th>Column</th>
              <th>Type</th>
              <th className="num">Nulls</th>
              <th className="num">Wrong type</th>
              <th className="num">Min</th>
              <th className="num">Max</th>
              <th className="num" title="≈ marks an estimate, for large columns with many values">
                Distinct
              </th>
            </tr>
          </thead>
          <tbody>
            {report.columns.map((column) => (
              <tr key={column.name} data-testid={`quality-column-${column.name}`}>
                <td>{column.name}</td>
                <td className="mono" title={column.type}>
                  {column.type.startsWith('ENUM') ? 'ENUM' : column.type}
                </td>
                <td className="num" title={lines(column.nullLines, column.nulls)}>
                  {formatCount(column.nulls)}
                </td>
                <td className="num" title={lines(column.typeErrorLines, column.typeErrors)}>
                  {formatCount(column.typeErrors)}
                  {column.typeErrors > 0 && (
                    <span className="subtle"> ({lines(column.typeErrorLines, column.typeErrors)})</span>
                  )}
                </td>
                <td className="num">{formatExtreme(column.min, column.type)}</td>
                <td className="num">{formatExtreme(column.max, column.type)}</td>
                <td
                  className="num"
                  title={column.distinctExact ? 'exact' : 'an estimate (within a few percent)'}
                >
                  {column.distinctExact ? '' : '≈ '}
                  {formatCount(column.distinct)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  )
}

/** "Can this data be trusted?": the report computed after the import. */
export function QualityReportView({ dataset }: { dataset: Dataset }) {
  const report = useQuery(orpc.datasets.quality.queryOptions({ input: { id: dataset.id } }))
  if (report.isPending) return <LoadingSkeleton label="Loading the quality report" rows={6} />
  if (report.isError)
    return (
      <ErrorState
        title="The quality report could not be loaded"
        message={describeError(report.error)}
        onRetry={() => void report.refetch()}
      />
    )
  return <Report dataset={dataset} report={report.data} />
}
