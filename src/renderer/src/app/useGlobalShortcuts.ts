import { useEffect } from 'react'
import { AREAS, type AreaId } from './areas'

function isTyping(target: EventTarget | null): boolean {
  return (
    target instanceof HTMLInputElement ||
    target instanceof HTMLTextAreaElement ||
    target instanceof HTMLSelectElement ||
    (target instanceof HTMLElement && target.isContentEditable)
  )
}

/** Alt+1..7 opens an area, ? opens the keyboard help. */
export function useGlobalShortcuts(onOpenArea: (area: AreaId) => void, onHelp: () => void): void {
  useEffect(() => {
    function onKeyDown(event: KeyboardEvent) {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey) return
      // event.code, not event.key: on macOS Alt+digit types a symbol such as ¡.
      const digit = /^Digit(\d)$/.exec(event.code)?.[1]
      const area = event.altKey && digit ? AREAS[Number(digit) - 1] : undefined
      if (area) {
        event.preventDefault()
        onOpenArea(area.id)
      } else if (event.key === '?' && !event.altKey && !isTyping(event.target)) {
        event.preventDefault()
        onHelp()
      }
    }
    window.addEventListener('keydown', onKeyDown)
    return () => window.removeEventListener('keydown', onKeyDown)
  }, [onOpenArea, onHelp])
}
