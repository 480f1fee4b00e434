import { InvalidArgumentError, Option } from 'commander'
import { DEFAULT_PARTITIONS, DEFAULT_PREFIX } from './partitioning'
import type { TimeWindow } from './wire'

/** Option parsers shared by `aether replay` and `aether worker`. */

export const wholeNumber =
  (what: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  (value: string): number => {
    const parsed = Number(value.replaceAll('_', ''))
    if (!Number.isInteger(parsed) || parsed < min || parsed > max)
      throw new InvalidArgumentError(`${what} is a whole number from ${min} to ${max}`)
    return parsed
  }

/** A date or time in ISO 8601 (2000-01-01, 2024-06-01T00:00:00Z) that Date.parse reads alike everywhere. */
export const isoDate =
  (what: string) =>
  (value: string): string => {
    if (
      /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2}))?$/.test(value) &&
      !Number.isNaN(Date.parse(value))
    )
      return value
    throw new InvalidArgumentError(`${what} is a date such as 2000-01-01, or a time with its zone`)
  }

export const redisUrl = (value: string): string => {
  try {
    const url = new URL(value)
    if (url.protocol === 'redis:' || url.protocol === 'rediss:') return value
  } catch {
    // reported below
  }
  throw new InvalidArgumentError('a Redis URL such as redis://127.0.0.1:6379')
}

export const postgresUrl = (value: string): string => {
  try {
    const url = new URL(value)
    if (url.protocol === 'postgres:' || url.protocol === 'postgresql:') return value
  } catch {
    // reported below
  }
  throw new InvalidArgumentError('a PostgreSQL URL such as postgres://aether@db.example:5432/aether')
}

export const formatCount = (value: number) => Math.round(value).toLocaleString('en-US')

export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000)
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.floor(seconds / 60)
  return minutes < 60
    ? `${minutes} min ${seconds % 60} s`
    : `${Math.floor(minutes / 60)} h ${minutes % 60} min`
}

/** --prefix and --partitions: where a team's partition streams are, alike for every command. */
export const prefixOption = () =>
  new Option('--prefix <prefix>', 'key prefix of the streams').default(DEFAULT_PREFIX)
export const partitionsOption = () =>
  new Option('--partitions <n>', 'number of partition streams')
    .argParser(wholeNumber('--partitions', 1, 1024))
    .default(DEFAULT_PARTITIONS)

/**
 * --earliest-ts and --ahead-hours: the times a transaction may carry. `aether worker` and `aether gateway`
 * take the same two, and a team gives both the same values: a gateway that accepts what its workers
 * refuse answers 200 for a transaction that becomes a dead letter.
 */
export const earliestTsOption = () =>
  new Option(
    '--earliest-ts <date>',
    'transactions dated before this are refused (ISO 8601; the workers and gateways of a team alike)',
  )
    .argParser(isoDate('--earliest-ts'))
    .default('2000-01-01')
export const aheadHoursOption = () =>
  new Option('--ahead-hours <n>', 'transactions dated more than this past the clock are refused')
    .argParser(wholeNumber('--ahead-hours', 0, 87_600))
    .default(24)

export const timeWindowOf = (options: { earliestTs: string; aheadHours: number }): TimeWindow => ({
  earliestMs: Date.parse(options.earliestTs),
  aheadMs: options.aheadHours * 3_600_000,
})
