import { useMemo, useState, type KeyboardEvent } from 'react'
import type { Dataset, GridSource, SqlAnswer, SqlEvent } from '../../../../shared/datasets-contract'
import { client } from '../../api/client'
import { formatCount } from './format'
import { RunStatus, useLongRun } from './longRun'
import { RowsView } from './RowsView'

const HISTORY_KEY = 'aether.datasets.sqlHistory'
const NO_FILTER = {}
const HISTORY_KEPT = 30

function readHistory(): string[] {
  try {
    const stored: unknown = JSON.parse(window.localStorage.getItem(HISTORY_KEY) ?? '[]')
    return Array.isArray(stored) ? stored.filter((entry): entry is string => typeof entry === 'string') : []
  } catch {
    return []
  }
}

function remember(sql: string): string[] {
  const history = [sql, ...readHistory().filter((entry) => entry !== sql)].slice(0, HISTORY_KEPT)
  window.localStorage.setItem(HISTORY_KEY, JSON.stringify(history))
  return history
}

function starter(dataset: Dataset): string {
  return dataset.kind === 'paysim'
    ? 'SELECT type, count(*) AS transactions, count(*) FILTER (label) AS fraud\nFROM transactions\nGROUP BY type\nORDER BY fraud DESC'
    : 'SELECT * FROM source LIMIT 100'
}

/** The line of the statement with a caret under the error, where DuckDB says where it is. */
function ErrorMarker({ sql, answer }: { sql: string; answer: Extract<SqlAnswer, { outcome: 'error' }> }) {
  const text = answer.line === null ? undefined : sql.split('\n')[answer.line - 1]
  return (
    <div className="ds-sql-error" role="alert" data-testid="sql-error">
      <p className="inline-error">
        {answer.message}
        {answer.line !== null &&
          ` (line ${answer.line}${answer.column !== null ? `, column ${answer.column}` : ''})`}
      </p>
      {text !== undefined && answer.column !== null && (
        <pre className="mono" aria-hidden="true">
          {text}
          {'\n'}
          {' '.repeat(Math.max(0, answer.column - 1))}^
        </pre>
      )}
    </div>
  )
}

/**
 * SQL over the dataset, read-only: the console's DuckDB can read this dataset and nothing else (no files,
 * no network, no extensions). A query's result pages through the grid, where it can be sorted, filtered,
 * grouped and exported.
 */
export function SqlConsole({ dataset }: { dataset: Dataset }) {
  const [sql, setSql] = useState(() => starter(dataset))
  const [history, setHistory] = useState(readHistory)
  const [ran, setRan] = useState('')
  const [refusal, setRefusal] = useState<string | null>(null)
  const run = useLongRun<SqlEvent>()
  const running = run.state.status === 'running'

  function start() {
    const statement = sql.trim()
    if (statement === '') return
    const started = run.start((signal) =>
      client.datasets.sql({ datasetId: dataset.id, sql: statement }, { signal }),
    )
    if (!started) {
      setRefusal('A statement is running: wait for it, or cancel it, before running another.')
      return
    }
    setRefusal(null)
    setHistory(remember(statement))
    setRan(statement)
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault()
      start()
    }
  }

  const answer = run.state.status === 'done' ? run.state.final.answer : undefined
  const source = useMemo<GridSource>(() => ({ kind: 'console', sql: ran }), [ran])

  return (
    <div className="ds-sql">
      <div className="ds-sql-editor">
        <div className="ds-sql-input">
          <label htmlFor="ds-sql-text" className="subtle">
            Tables:{' '}
            <span className="mono">{dataset.kind === 'paysim' ? 'transactions, source' : 'source'}</span> ·
            read-only · <kbd>Ctrl</kbd>+<kbd>Enter</kbd> runs
          </label>
          <textarea
            id="ds-sql-text"
            className="mono"
            value={sql}
            onChange={(event) => setSql(event.target.value)}
            onKeyDown={onKeyDown}
            rows={6}
            spellCheck={false}
            data-testid="sql-editor"
          />
          <div className="form-actions">
            <button
              type="button"
              className="button primary"
              onClick={start}
              disabled={running}
              data-testid="sql-run"
            >
              {running ? 'Running…' : 'Run'}
            </button>
            {answer && answer.outcome !== 'error' && (
              <span className="subtle" data-testid="sql-summary">
                {answer.outcome === 'query'
                  ? `${formatCount(answer.rowCount)} rows`
                  : `${formatCount(answer.rows.length)} rows${answer.truncated ? ' (the first ones)' : ''}`}{' '}
                in {formatCount(answer.millis)} ms
              </span>
            )}
          </div>
        </div>
        <nav className="ds-sql-history" aria-label="Earlier statements">
          <h3 className="subtle">History</h3>
          {history.length === 0 ? (
            <p className="subtle">Statements you run are kept here.</p>
          ) : (
            <ul>
              {history.map((entry) => (
                <li key={entry}>
                  <button
                    type="button"
                    className="button ds-link mono"
                    title={entry}
                    onClick={() => setSql(entry)}
                  >
                    {entry.replace(/\s+/g, ' ')}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </nav>
      </div>
      {refusal !== null && running && (
        <p className="inline-error" role="alert" data-testid="sql-refused">
          {refusal}
        </p>
      )}
      <RunStatus run={run} what="the statement" testId="sql-progress" />
      {answer?.outcome === 'error' && <ErrorMarker sql={ran} answer={answer} />}
      {answer?.outcome === 'query' && (
        <RowsView
          key={ran}
          datasetId={dataset.id}
          source={source}
          columns={answer.columns}
          filter={NO_FILTER}
          exportName="query result"
          testId="sql-result"
        />
      )}
      {answer?.outcome === 'rows' && (
        <div className="ds-sql-rows" data-testid="sql-result">
          <table className="ds-table">
            <thead>
              <tr>
                {answer.columns.map((column) => (
                  <th key={column.name}>{column.name}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {answer.rows.map((row, index) => (
                <tr key={index}>
                  {answer.columns.map((column) => (
                    <td key={column.name} className="mono ds-pre">
                      {String(row[column.name] ?? '')}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}
