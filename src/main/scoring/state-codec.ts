import { STATE_VERSION, type UserState } from './features'

/**
 * A user's feature state as it is stored (user_features.state) between batches and owners: a compact
 * form of UserState that gives back the same numbers and strings exactly.
 *
 * Every batch writes the state of every user it touched, so its size is paid in the worker's
 * JSON.stringify, in PostgreSQL's parse of the batch's states, in the row and in the WAL. The form the
 * scorer keeps in memory wrote every event time in full (13 digits each) and the device and IP of each of
 * the latest 256 transactions, nearly always the same one again: 673 bytes a user on average after
 * 200,000 generated transactions, 366 in this form (issue 13). Event times are written back from the
 * latest one, devices and IPs as runs of one value.
 *
 * Version 1 states (the scorer's own form, written before this) are still read.
 */

export const PACKED_STATE_VERSION = 2

export interface PackedUserState {
  v: typeof PACKED_STATE_VERSION
  /** UserState.n, lastMs, mean and m2. */
  n: number
  t: number
  m: number
  q: number
  /** recentMs, each as lastMs minus it (whole milliseconds, so exact). */
  r: number[]
  /** recentCents, counterparties. */
  c: number[]
  p: string[]
  /** devices and ips as runs: value, then how many times it comes in a row. */
  d: (string | null | number)[]
  i: (string | null | number)[]
}

function runsOf(values: readonly (string | null)[]): (string | null | number)[] {
  const runs: (string | null | number)[] = []
  let start = 0
  while (start < values.length) {
    const value = values[start] as string | null
    let end = start + 1
    while (end < values.length && values[end] === value) end++
    runs.push(value, end - start)
    start = end
  }
  return runs
}

function fromRuns(runs: unknown, field: string): (string | null)[] {
  if (!Array.isArray(runs) || runs.length % 2 !== 0) throw new StoredStateError(`${field} is not runs`)
  const values: (string | null)[] = []
  for (let k = 0; k < runs.length; k += 2) {
    const value: unknown = runs[k]
    const count: unknown = runs[k + 1]
    if (
      (typeof value !== 'string' && value !== null) ||
      !Number.isSafeInteger(count) ||
      (count as number) < 1
    )
      throw new StoredStateError(`${field} holds a run that is not a value and a count`)
    for (let c = 0; c < (count as number); c++) values.push(value)
  }
  return values
}

/** A stored state that is neither form: the worker cannot continue that user's features from it. */
export class StoredStateError extends Error {
  constructor(detail: string) {
    super(`A stored user state is not one this version reads: ${detail}`)
    this.name = 'StoredStateError'
  }
}

/**
 * The stored form of a state, to serialize before the state advances again: it shares the state's
 * arrays of amounts and counterparties.
 */
export function packUserState(state: UserState): PackedUserState {
  const last = state.lastMs
  const { recentMs } = state
  const back = new Array<number>(recentMs.length)
  for (let k = 0; k < recentMs.length; k++) back[k] = last - (recentMs[k] as number)
  return {
    v: PACKED_STATE_VERSION,
    n: state.n,
    t: last,
    m: state.mean,
    q: state.m2,
    r: back,
    c: state.recentCents,
    p: state.counterparties,
    d: runsOf(state.devices),
    i: runsOf(state.ips),
  }
}

/** One member of packedStatesJson's object, `"user":{stored form}`: for a text built a few users at a time. */
export function packedStateMember(user: string, state: UserState): string {
  return `${JSON.stringify(user)}:${JSON.stringify(packUserState(state))}`
}

/** Users' states as one JSON object, user id → stored form: a batch's states, as the pipeline writes them. */
export function packedStatesJson(states: ReadonlyMap<string, UserState>): string {
  const byUser = Object.create(null) as Record<string, PackedUserState>
  for (const [user, state] of states) byUser[user] = packUserState(state)
  return JSON.stringify(byUser)
}

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)

function numbers(value: unknown, field: string): number[] {
  if (!Array.isArray(value) || !value.every(isNumber)) throw new StoredStateError(`${field} is not numbers`)
  return value
}

/** The scorer's state from a stored one, of either version (version 1 is the scorer's own form). */
export function unpackUserState(stored: unknown): UserState {
  if (typeof stored !== 'object' || stored === null) throw new StoredStateError('not an object')
  const record = stored as Record<string, unknown>
  if (record.v === STATE_VERSION) return stored as UserState
  if (record.v !== PACKED_STATE_VERSION) throw new StoredStateError(`version ${String(record.v)}`)
  const { n, t, m, q } = record
  if (!isNumber(n) || !isNumber(t) || !isNumber(m) || !isNumber(q))
    throw new StoredStateError('n, t, m or q is not a number')
  const back = numbers(record.r, 'r')
  const cents = numbers(record.c, 'c')
  if (cents.length !== back.length) throw new StoredStateError('r and c differ in length')
  const counterparties = record.p
  if (!Array.isArray(counterparties) || !counterparties.every((value) => typeof value === 'string'))
    throw new StoredStateError('p is not strings')
  return {
    v: STATE_VERSION,
    n,
    lastMs: t,
    mean: m,
    m2: q,
    recentMs: back.map((ms) => t - ms),
    recentCents: cents,
    counterparties: counterparties as string[],
    devices: fromRuns(record.d, 'd'),
    ips: fromRuns(record.i, 'i'),
  }
}
