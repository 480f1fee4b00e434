import { ORPCError } from '@orpc/client'
import { useMutation } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import type { ExportResult, FilterModel, GridSource, SortItem } from '../../../../shared/datasets-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { formatBytes, formatCount, formatSeconds } from './format'

interface ExportControlsProps {
  datasetId: string
  source: GridSource
  /** What the grid shows now: its filter and sort. */
  query: { filter: FilterModel; sort: SortItem[] }
  defaultName: string
}

/** Writes what the grid shows (every row of it, not just the loaded ones) to the exports folder. */
export function ExportControls({ datasetId, source, query, defaultName }: ExportControlsProps) {
  const [format, setFormat] = useState<'csv' | 'parquet'>('csv')
  const [fileName, setFileName] = useState(defaultName)
  const [replacing, setReplacing] = useState(false)
  const exporting = useMutation(
    orpc.datasets.export.mutationOptions({
      onSuccess: () => setReplacing(false),
      onError: (error) => setReplacing(error instanceof ORPCError && error.code === 'CONFLICT'),
    }),
  )
  const exportTo = (overwrite: boolean) =>
    exporting.mutate({ datasetId, source, ...query, format, fileName, ...(overwrite ? { overwrite } : {}) })

  function submit(event: FormEvent) {
    event.preventDefault()
    exportTo(false)
  }

  const done: ExportResult | undefined = exporting.data
  return (
    <form className="ds-export" onSubmit={submit} data-testid="export">
      <label className="ds-inline-field">
        Export as
        <select
          value={format}
          onChange={(event) => setFormat(event.target.value as 'csv' | 'parquet')}
          data-testid="export-format"
        >
          <option value="csv">CSV</option>
          <option value="parquet">Parquet</option>
        </select>
      </label>
      <input
        value={fileName}
        onChange={(event) => {
          setFileName(event.target.value)
          setReplacing(false)
        }}
        aria-label="File name in the exports folder"
        className="ds-export-name"
        data-testid="export-name"
      />
      <button
        type="submit"
        className="button"
        disabled={exporting.isPending || fileName.trim() === ''}
        data-testid="export-button"
      >
        {exporting.isPending ? 'Exporting…' : 'Export'}
      </button>
      {replacing && (
        <span className="confirm">
          <span>A file of that name exists.</span>
          <button
            type="button"
            className="button danger"
            onClick={() => exportTo(true)}
            data-testid="export-replace"
          >
            Replace it
          </button>
        </span>
      )}
      {exporting.isError && !replacing && (
        <span className="inline-error">{describeError(exporting.error)}</span>
      )}
      {done && !exporting.isPending && (
        <span className="subtle" role="status" data-testid="export-result">
          Saved {formatCount(done.rows)} rows ({formatBytes(done.bytes)}) in{' '}
          {formatSeconds(done.millis / 1000)} to <span className="mono">{done.path}</span>
        </span>
      )}
    </form>
  )
}
