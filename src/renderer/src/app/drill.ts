import { openArea } from './useArea'
import type { Decision } from '../../../shared/transaction'

/** A chart click opens the Transactions grid with that slice as its filter. */
export interface Drill {
  decisions?: Decision[]
  from?: string
  to?: string
}

let pending: Drill | undefined

export function drillInto(drill: Drill): void {
  pending = drill
  openArea('transactions')
}

/** The drill the grid should open with; the grid clears it once mounted, so it applies once. */
export const pendingDrill = (): Drill | undefined => pending

export function clearDrill(): void {
  pending = undefined
}
