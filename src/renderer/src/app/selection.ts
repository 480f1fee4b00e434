import { useSyncExternalStore } from 'react'
import { openArea } from './useArea'

/** The case the analyst has open, shared by the Cases page, notifications and the Transactions grid. */
let selected: number | null = null
const listeners = new Set<() => void>()

export function selectCase(id: number | null): void {
  selected = id
  for (const listener of listeners) listener()
}

/** Opens a case from anywhere: a notification click, a grid row, a drill-down. */
export function openCase(id: number): void {
  selectCase(id)
  openArea('cases')
}

function subscribe(onChange: () => void) {
  listeners.add(onChange)
  return () => listeners.delete(onChange)
}

export function useSelectedCase(): number | null {
  return useSyncExternalStore(subscribe, () => selected)
}
