import type { Decision } from '../../../shared/transaction'

/**
 * How figures and times read everywhere: one time format, "2026-12-06 14:03:27" (year-month-day, 24-hour,
 * never a day-month order to guess), in the analyst's time zone, whose name the page shows beside it
 * (`zoneName`, in column titles and labels); the zone and UTC on hover. Which time a value is (the event
 * time a transaction carries, or when the pipeline received it) is said by its label, never left to guess.
 */

export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone

const parts = new Intl.DateTimeFormat('en-CA', {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
  timeZone,
})

function fields(iso: string): Record<string, string> | null {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return null
  const out: Record<string, string> = {}
  for (const part of parts.formatToParts(date)) out[part.type] = part.value
  return out
}

/** The zone's short name as the analyst's clock shows it: "UTC", "CET", "GMT+2". */
export const zoneName: string = (() => {
  const name = new Intl.DateTimeFormat('en-GB', { timeZone, timeZoneName: 'short' })
    .formatToParts(new Date())
    .find((part) => part.type === 'timeZoneName')?.value
  return name ?? timeZone
})()

/** "2026-12-06 14:03:27", in the analyst's zone. */
export const formatTime = (iso: string | null | undefined): string => {
  const f = iso ? fields(iso) : null
  return f ? `${f.year}-${f.month}-${f.day} ${f.hour}:${f.minute}:${f.second}` : ''
}

/** "2026-12-06", in the analyst's zone. */
export const formatDate = (iso: string): string => {
  const f = fields(iso)
  return f ? `${f.year}-${f.month}-${f.day}` : ''
}

/** "14:03", in the analyst's zone. */
export const formatClock = (iso: string): string => {
  const f = fields(iso)
  return f ? `${f.hour}:${f.minute}` : ''
}

/** A time with its zone, for a value that stands alone: "2026-12-06 14:03:27 UTC". */
export const formatTimeZoned = (iso: string | null | undefined): string =>
  iso ? `${formatTime(iso)} ${zoneName}` : ''

/** The title attribute of a time: the same instant with its zone, and in UTC. */
export const timeTitle = (iso: string | null | undefined): string =>
  iso ? `${formatTime(iso)} ${timeZone} · ${new Date(iso).toISOString()}` : ''

const moneyFormats = new Map<string, Intl.NumberFormat>()

/** Amounts arrive as exact decimal strings; they become numbers only to be printed. */
export function formatMoney(amount: string | null | undefined, currency = 'USD'): string {
  if (amount === null || amount === undefined || amount === '') return ''
  let format = moneyFormats.get(currency)
  if (format === undefined) {
    try {
      format = new Intl.NumberFormat(undefined, { style: 'currency', currency, minimumFractionDigits: 2 })
    } catch {
      format = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })
    }
    moneyFormats.set(currency, format)
  }
  return format.format(Number(amount))
}

export const formatCount = (value: number): string => value.toLocaleString()

export const DECISION_LABELS: Record<Decision, string> = {
  approve: 'Approve',
  review: 'Review',
  block: 'Block',
}

/** How long ago, in the largest whole unit: "5 min ago". */
export function formatAge(iso: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000))
  if (seconds < 60) return `${seconds} s ago`
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`
  return `${Math.floor(seconds / 86_400)} d ago`
}
