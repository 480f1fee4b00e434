import { useRef, useState } from 'react'
import type { TransactionFilter, TransactionSort } from '../../../../shared/triage-contract'
import { client } from '../../api/client'
import { followRun } from '../../api/run'
import { formatCount } from '../../ui/format'

const MAX_EXPORT_ROWS = 1_000_000

interface Progress {
  rows: number
  startedAt: number
  at: number
}

/** Streams the filtered rows from the workstation as CSV and saves them; shows rows and rate, cancellable. */
export function ExportButton({ filter, sort }: { filter: TransactionFilter; sort: TransactionSort }) {
  const [progress, setProgress] = useState<Progress>()
  const [message, setMessage] = useState('')
  const abort = useRef<AbortController | null>(null)

  async function run() {
    const controller = new AbortController()
    abort.current = controller
    const startedAt = Date.now()
    setProgress({ rows: 0, startedAt, at: startedAt })
    setMessage('')
    const parts: string[] = []
    let rows = 0
    const completed = await followRun(
      () =>
        client.triage.transactions.exportCsv(
          { filter, sort, maxRows: MAX_EXPORT_ROWS },
          { signal: controller.signal },
        ),
      (chunk) => {
        parts.push(chunk.csv)
        rows = chunk.rows
        setProgress({ rows, startedAt, at: Date.now() })
        return chunk.done ? 'stop' : undefined
      },
      setMessage,
      controller.signal,
    )
    if (completed) {
      const url = URL.createObjectURL(new Blob(parts, { type: 'text/csv;charset=utf-8' }))
      const link = document.createElement('a')
      link.href = url
      link.download = `transactions-${new Date().toISOString().replace(/[:.]/g, '-')}.csv`
      link.click()
      URL.revokeObjectURL(url)
      setMessage(`Exported ${formatCount(rows)} rows.`)
    } else if (controller.signal.aborted) setMessage('Export cancelled.')
    setProgress(undefined)
    abort.current = null
  }

  if (progress) {
    const seconds = Math.max(0.001, (progress.at - progress.startedAt) / 1000)
    return (
      <span className="export-progress" role="status" data-testid="export-progress">
        <progress aria-label="Export progress" />
        {formatCount(progress.rows)} rows · {formatCount(Math.round(progress.rows / seconds))} rows/s
        <button type="button" className="button" onClick={() => abort.current?.abort()}>
          Cancel
        </button>
      </span>
    )
  }
  return (
    <span className="export">
      <button type="button" className="button" onClick={() => void run()} data-testid="export-csv">
        Export CSV
      </button>
      <span className="subtle" role="status" data-testid="export-message">
        {message}
      </span>
    </span>
  )
}
