import type { Decision } from '../../../shared/transaction'

/** How figures and times read everywhere in triage: the analyst's locale and time zone, zone on hover. */

export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
})
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })

export const formatTime = (iso: string | null | undefined): string =>
  iso ? dateTime.format(new Date(iso)) : ''

export const formatClock = (iso: string): string => timeOnly.format(new Date(iso))

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
