import { useQuery } from '@tanstack/react-query'
import type { TransactionDetail as Detail } from '../../../../shared/triage-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { ErrorState } from '../../app/ErrorState'
import { LoadingSkeleton } from '../../app/LoadingSkeleton'
import { openCase } from '../../app/selection'
import { formatMoney, formatTime, formatTimeZoned, timeTitle } from '../../ui/format'
import { ReasonList } from '../../ui/ReasonList'
import { DecisionChip, ScoreBadge } from '../../ui/ScoreBadge'
import { NOT_THROUGH_THE_API, sentByText, sentByTitle } from './sentBy'

/** Why a transaction scored as it did, then who the user is from their recent history. */
export function TransactionDetail({ txnId, onClose }: { txnId: string; onClose: () => void }) {
  const detail = useQuery(orpc.triage.transactions.detail.queryOptions({ input: { txnId } }))
  return (
    <aside
      className="detail-panel"
      aria-label="Transaction detail"
      data-testid="transaction-detail"
      onKeyDown={(event) => {
        if (event.key === 'Escape') onClose()
      }}
    >
      <header className="detail-header">
        <h2>Transaction</h2>
        <button
          type="button"
          className="button icon"
          onClick={onClose}
          title="Close (Esc)"
          aria-label="Close detail"
        >
          ×
        </button>
      </header>
      {detail.isPending ? (
        <LoadingSkeleton label="Loading the transaction" rows={8} />
      ) : detail.isError ? (
        <ErrorState
          title="The transaction could not be loaded"
          message={describeError(detail.error)}
          onRetry={() => void detail.refetch()}
        />
      ) : (
        <DetailBody {...detail.data} />
      )}
    </aside>
  )
}

function DetailBody({ transaction: t, history }: Detail) {
  return (
    <div className="detail-body">
      <div className="detail-summary">
        <ScoreBadge score={t.score} decision={t.decision} />
        <DecisionChip decision={t.decision} />
        <strong className="num">{formatMoney(t.amount, t.currency)}</strong>
        <span>{t.type}</span>
      </div>
      <dl className="facts">
        <dt>Event time</dt>
        <dd title={timeTitle(t.ts)}>{formatTimeZoned(t.ts)}</dd>
        <dt>User</dt>
        <dd className="mono">{t.userId}</dd>
        <dt>To</dt>
        <dd className="mono">{t.counterpartyId}</dd>
        <dt>Balance</dt>
        <dd className="num">
          {formatMoney(t.balanceBefore, t.currency)} → {formatMoney(t.balanceAfter, t.currency)}
        </dd>
        {t.sourceIp && (
          <>
            <dt>IP</dt>
            <dd className="mono">{t.sourceIp}</dd>
          </>
        )}
        {t.deviceId && (
          <>
            <dt>Device</dt>
            <dd className="mono">{t.deviceId}</dd>
          </>
        )}
        <dt>Sent by</dt>
        <dd
          className={t.sentBy === null ? 'subtle' : undefined}
          title={sentByTitle(t.sentBy)}
          data-testid="sent-by"
        >
          {t.sentBy === null ? NOT_THROUGH_THE_API : `API key ${sentByText(t.sentBy)}`}
        </dd>
        <dt>Scored by</dt>
        <dd className="subtle">
          rules v{t.rulesVersion ?? '–'} · {t.modelVersion ?? 'not scored'}
        </dd>
        <dt>Txn id</dt>
        <dd className="mono">{t.txnId}</dd>
      </dl>
      {t.caseId !== null && (
        <button
          type="button"
          className="button"
          onClick={() => openCase(t.caseId ?? 0)}
          data-testid="open-case"
        >
          Open case #{t.caseId}
        </button>
      )}
      <section aria-labelledby="why-heading">
        <h3 id="why-heading">Why it scored {t.score ?? '–'}</h3>
        <ReasonList reasons={t.reasons} />
      </section>
      <section aria-labelledby="history-heading">
        <h3 id="history-heading">{t.userId}’s recent transactions</h3>
        <table className="mini-table">
          <thead>
            <tr>
              <th>Event time</th>
              <th>Type</th>
              <th className="num">Amount</th>
              <th>Score</th>
            </tr>
          </thead>
          <tbody>
            {history.map((row) => (
              <tr key={row.txnId} aria-current={row.txnId === t.txnId ? 'true' : undefined}>
                <td title={timeTitle(row.ts)}>{formatTime(row.ts)}</td>
                <td>{row.type}</td>
                <td className="num">{formatMoney(row.amount, row.currency)}</td>
                <td>
                  <ScoreBadge score={row.score} decision={row.decision} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  )
}
