/** Figures of the Datasets area; money, counts and times read as everywhere else (ui/format.ts). */

export { formatCount, formatMoney, formatTime, formatTimeZoned, timeTitle, zoneName } from '../../ui/format'

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}

export function formatSeconds(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`
  const minutes = Math.floor(seconds / 60)
  return `${minutes} min ${Math.round(seconds % 60)} s`
}

export const formatPercent = (value: number | null, digits = 1): string =>
  value === null ? 'n/a' : `${(value * 100).toFixed(digits)}%`

/** DuckDB's TIMESTAMPTZ text ("2026-01-01 05:00:00+00") as an ISO instant the formatters read. */
export function isoOf(text: string): string {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2})(?::?(\d{2}))?$/.exec(text)
  if (!match) return text
  return `${match[1]}T${match[2]}${match[3]}:${match[4] ?? '00'}`
}

const NUMERIC =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL)/

export const isNumericType = (type: string) => NUMERIC.test(type)
export const isMoneyType = (type: string) => /^DECIMAL\(\d+,2\)$/.test(type)
export const isTimeType = (type: string) => /^(TIMESTAMP|DATE)/.test(type)
