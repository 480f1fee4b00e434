import { useState, type DragEvent, type FormEvent } from 'react'
import { describeError } from '../../api/errors'
import { droppedFile } from './droppedFile'
import { cancelImport, dismissImport, openDataset, useImportState } from './importStore'
import { formatBytes, formatCount, formatSeconds, formatTimeZoned } from './format'

/**
 * Open a file: in the desktop app by the system's file dialog or by dropping it here; anywhere by its path
 * (a browser cannot hand over a local file's path); or the bundled sample.
 */
export function OpenDatasetPanel({ samplePath }: { samplePath: string | null }) {
  const [path, setPath] = useState('')
  const [note, setNote] = useState<string | null>(null)
  const [dragging, setDragging] = useState(false)
  const running = useImportState().status === 'running'
  const shell = window.aetherShell

  function open(chosen: string) {
    setPath(chosen)
    setNote(null)
    void openDataset({ kind: 'path', path: chosen })
  }

  function submit(event: FormEvent) {
    event.preventDefault()
    if (path.trim() !== '') open(path.trim())
  }

  async function choose() {
    if (shell === undefined) return
    try {
      const chosen = await shell.pickDatasetFile()
      if (chosen !== null) open(chosen)
    } catch (error) {
      setNote(describeError(error))
    }
  }

  function dragOver(event: DragEvent) {
    if (!event.dataTransfer.types.includes('Files')) return
    // Taken here, a drop opens the file instead of sending the window to it.
    event.preventDefault()
    event.dataTransfer.dropEffect = running ? 'none' : 'copy'
    setDragging(true)
  }

  function drop(event: DragEvent) {
    event.preventDefault()
    setDragging(false)
    if (running) {
      setNote('An import is running: wait for it or cancel it, then drop the file again.')
      return
    }
    const outcome = droppedFile([...event.dataTransfer.files], shell?.pathForDroppedFile)
    if ('path' in outcome) open(outcome.path)
    else setNote(outcome.note)
  }

  return (
    <section
      className="ds-open"
      aria-labelledby="ds-open-heading"
      onDragOver={dragOver}
      onDragLeave={() => setDragging(false)}
      onDrop={drop}
      data-testid="open-panel"
    >
      <h2 id="ds-open-heading">Open a dataset</h2>
      {shell !== undefined && (
        <div className="ds-drop" data-dragging={dragging || undefined} data-testid="dataset-drop-zone">
          <button
            type="button"
            className="button primary"
            disabled={running}
            onClick={() => void choose()}
            data-testid="choose-dataset"
          >
            Choose file…
          </button>
          <span className="subtle">or drop a CSV, CSV.gz or Parquet file here</span>
        </div>
      )}
      <form className="ds-open-form" onSubmit={submit}>
        <label className="field">
          <span>File path (CSV, CSV.gz or Parquet)</span>
          <input
            value={path}
            onChange={(event) => setPath(event.target.value)}
            placeholder="/data/paysim.csv"
            spellCheck={false}
            data-testid="dataset-path"
          />
        </label>
        <button
          type="submit"
          className={shell === undefined ? 'button primary' : 'button'}
          disabled={running || path.trim() === ''}
          data-testid="open-dataset"
        >
          Open
        </button>
      </form>
      {note !== null && (
        <p className="inline-error" role="alert" data-testid="drop-note">
          {note}
        </p>
      )}
      {samplePath !== null && (
        <button
          type="button"
          className="button"
          disabled={running}
          onClick={() => void openDataset({ kind: 'sample' })}
          title={samplePath}
          data-testid="open-sample"
        >
          Open the bundled sample
        </button>
      )}
      <ImportStatus />
    </section>
  )
}

/** Progress with rows, rate and time left, and Cancel; then what came of it. */
function ImportStatus() {
  const state = useImportState()
  if (state.status === 'idle') return null
  if (state.status === 'running') {
    const progress = state.progress
    const percent = progress?.percent ?? 0
    const phase = progress?.phase === 'checking' ? 'Checking quality' : 'Reading'
    return (
      <div className="ds-import" data-testid="import-progress" data-state="running">
        <div className="ds-import-title">
          {phase} {state.name}
        </div>
        <progress max={100} value={percent} aria-label={`${phase}: ${percent.toFixed(0)}%`} />
        <div className="ds-import-figures subtle">
          <span data-testid="import-percent">{percent.toFixed(0)}%</span>
          {progress !== null && (
            <>
              <span>{formatCount(Math.round(progress.rows))} rows</span>
              <span>{progress.megabytesPerSecond.toFixed(1)} MB/s</span>
              <span>{formatCount(Math.round(progress.rowsPerSecond))} rows/s</span>
              {progress.etaSeconds !== null && <span>{formatSeconds(progress.etaSeconds)} left</span>}
            </>
          )}
          {state.sourceBytes > 0 && <span>of {formatBytes(state.sourceBytes)}</span>}
        </div>
        <button
          type="button"
          className="button"
          onClick={() => void cancelImport()}
          data-testid="import-cancel"
        >
          Cancel
        </button>
      </div>
    )
  }
  if (state.status === 'changed')
    return (
      <div className="ds-import" data-testid="import-changed" data-state="changed" role="alert">
        <p>
          {state.dataset.name} changed since it was imported ({formatBytes(state.dataset.sourceBytes)} →{' '}
          {formatBytes(state.sourceBytes)}, modified {formatTimeZoned(state.sourceModifiedAt)}).
        </p>
        <div className="form-actions">
          <button
            type="button"
            className="button primary"
            onClick={() => void openDataset({ kind: 'path', path: state.path, reimport: true })}
            data-testid="reimport"
          >
            Import it again
          </button>
          <button type="button" className="button" onClick={dismissImport}>
            Keep the imported copy
          </button>
        </div>
      </div>
    )
  const summary =
    state.status === 'done'
      ? state.reused
        ? `${state.dataset.name} was imported already and has not changed: opened at once.`
        : `Imported ${state.dataset.name}: ${formatCount(state.dataset.rowCount)} rows in ${formatSeconds(state.seconds)}` +
          (state.progress ? ` (${state.progress.megabytesPerSecond.toFixed(1)} MB/s)` : '') +
          (state.dataset.rejectedLines > 0
            ? `; ${formatCount(state.dataset.rejectedLines)} lines set aside.`
            : '.')
      : state.status === 'cancelled'
        ? `The import of ${state.name} was cancelled; nothing was kept.`
        : `${state.name} could not be imported: ${state.message}`
  return (
    <div className="ds-import" data-testid="import-progress" data-state={state.status} role="status">
      <p className={state.status === 'failed' ? 'inline-error' : undefined}>{summary}</p>
      <button type="button" className="button ds-link" onClick={dismissImport}>
        Dismiss
      </button>
    </div>
  )
}
