import type { ConnectionReport, ServiceCheck } from '../../../../shared/profile'

const SERVICE_LABELS: Record<ServiceCheck['service'], string> = {
  postgres: 'PostgreSQL',
  redis: 'Redis',
  keychain: 'OS keychain',
}

function CheckRow({ check }: { check: ServiceCheck }) {
  return (
    <li className="check" data-testid={`check-${check.service}`} data-ok={String(check.ok)}>
      <span className={check.ok ? 'check-mark ok' : 'check-mark bad'} aria-hidden="true">
        {check.ok ? '✓' : '✗'}
      </span>
      <span className="check-service">
        {SERVICE_LABELS[check.service]}
        <span className="visually-hidden">{check.ok ? ' reachable' : ' failed'}</span>
      </span>
      <span className="check-message">{check.message}</span>
      {check.detail && <span className="check-detail">{check.detail}</span>}
      <span className="check-millis num">{Math.round(check.millis)} ms</span>
      {check.warning && (
        <span className="check-warning" role="note">
          ⚠ {check.warning}
        </span>
      )}
    </li>
  )
}

export function ConnectionReportView({ report }: { report: ConnectionReport }) {
  return (
    <div className="report" data-testid="connection-report" data-ok={String(report.ok)}>
      <p className={report.ok ? 'report-summary ok' : 'report-summary bad'}>
        {report.ok ? 'Every check passed' : 'The connection does not work yet'}
      </p>
      <ul className="checks">
        {report.checks.map((check) => (
          <CheckRow key={check.service} check={check} />
        ))}
      </ul>
    </div>
  )
}
