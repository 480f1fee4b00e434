import { useCallback, useState, type KeyboardEvent, type PointerEvent } from 'react'

const MIN = 280
const MAX = 900
const STEP = 24

/** A resizable width for the detail panel: drag the handle, or focus it and use ← →. */
export function useSplitWidth(storageKey: string, initial = 420) {
  const [width, setWidth] = useState(() => Number(localStorage.getItem(storageKey)) || initial)
  const set = useCallback(
    (next: number) => {
      const clamped = Math.min(MAX, Math.max(MIN, Math.round(next)))
      localStorage.setItem(storageKey, String(clamped))
      setWidth(clamped)
    },
    [storageKey],
  )
  return [width, set] as const
}

export function Splitter({ width, onResize }: { width: number; onResize: (width: number) => void }) {
  function startDrag(event: PointerEvent<HTMLDivElement>) {
    const startX = event.clientX
    const startWidth = width
    const target = event.currentTarget
    target.setPointerCapture(event.pointerId)
    const move = (e: globalThis.PointerEvent) => onResize(startWidth + (startX - e.clientX))
    const stop = () => {
      target.removeEventListener('pointermove', move)
      target.removeEventListener('pointerup', stop)
    }
    target.addEventListener('pointermove', move)
    target.addEventListener('pointerup', stop)
  }
  function onKeyDown(event: KeyboardEvent<HTMLDivElement>) {
    if (event.key === 'ArrowLeft') onResize(width + STEP)
    else if (event.key === 'ArrowRight') onResize(width - STEP)
    else return
    event.preventDefault()
  }
  return (
    <div
      className="splitter"
      role="separator"
      aria-orientation="vertical"
      aria-valuenow={width}
      aria-valuemin={MIN}
      aria-valuemax={MAX}
      aria-label="Resize the detail panel"
      tabIndex={0}
      onPointerDown={startDrag}
      onKeyDown={onKeyDown}
    />
  )
}
