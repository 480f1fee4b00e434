import { useSyncExternalStore } from 'react'
import { DEFAULT_AREA, findArea, type AreaId } from './areas'

/** The area lives in location.hash (#/cases) so a reload, or the back button, keeps the analyst's place. */
function currentArea(): AreaId {
  return findArea(window.location.hash.replace(/^#\/?/, ''))?.id ?? DEFAULT_AREA
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange)
  return () => window.removeEventListener('hashchange', onChange)
}

export function openArea(area: AreaId): void {
  window.location.hash = `/${area}`
}

export function useArea(): AreaId {
  return useSyncExternalStore(subscribe, currentArea)
}
