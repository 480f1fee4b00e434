import { useQuery } from '@tanstack/react-query'
import { useState } from 'react'
import type { Cell, ColumnInfo, FilterModel, GridSource } from '../../../../shared/datasets-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { formatCount, formatMoney, isNumericType } from './format'

interface GroupByPanelProps {
  datasetId: string
  source: GridSource
  columns: ColumnInfo[]
  /** The grid's filter now: the groups count what the grid shows. */
  filter: FilterModel
  onPick: (filter: FilterModel) => void
}

/** Counts per value of one column (with fraud and amount where the dataset has them); a value drills in. */
export function GroupByPanel({ datasetId, source, columns, filter, onPick }: GroupByPanelProps) {
  const [column, setColumn] = useState('')
  const groups = useQuery({
    ...orpc.datasets.groups.queryOptions({ input: { datasetId, source, column, filter } }),
    enabled: column !== '',
  })
  const type = columns.find((candidate) => candidate.name === column)?.type ?? ''

  function pick(value: Cell) {
    if (value === null) return
    const condition = isNumericType(type)
      ? { filterType: 'number' as const, type: 'equals' as const, filter: Number(value) }
      : { filterType: 'text' as const, type: 'equals' as const, filter: String(value) }
    onPick({ ...filter, [column]: condition })
  }

  return (
    <div className="ds-group" data-testid="group-by">
      <label className="ds-inline-field">
        Group by
        <select
          value={column}
          onChange={(event) => setColumn(event.target.value)}
          data-testid="group-by-column"
        >
          <option value="">(no grouping)</option>
          {columns.map((candidate) => (
            <option key={candidate.name} value={candidate.name}>
              {candidate.name}
            </option>
          ))}
        </select>
      </label>
      {groups.isError && <p className="inline-error">{describeError(groups.error)}</p>}
      {groups.data && (
        <table className="ds-table ds-group-table" data-testid="group-by-table">
          <caption className="subtle">
            {formatCount(groups.data.groupCount)} values
            {groups.data.groupCount > groups.data.groups.length
              ? `, the ${groups.data.groups.length} largest shown`
              : ''}
            ; pick one to filter the grid
          </caption>
          <thead>
            <tr>
              <th>{groups.data.column}</th>
              <th className="num">Rows</th>
              {groups.data.groups[0]?.fraud !== null && <th className="num">Fraud</th>}
              {groups.data.groups[0]?.amount !== null && <th className="num">Amount</th>}
            </tr>
          </thead>
          <tbody>
            {groups.data.groups.map((group) => (
              <tr key={String(group.value)}>
                <td>
                  <button type="button" className="button ds-link" onClick={() => pick(group.value)}>
                    {group.value === null ? '(empty)' : String(group.value)}
                  </button>
                </td>
                <td className="num">{formatCount(group.rows)}</td>
                {group.fraud !== null && <td className="num">{formatCount(group.fraud)}</td>}
                {group.amount !== null && <td className="num">{formatMoney(group.amount)}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}
