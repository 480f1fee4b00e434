import { useLayoutEffect, useRef } from 'react'

/**
 * Sizes a box to reach the bottom of the window (less `bottom` px, at least `min` px), following the
 * window's size and whatever above it grows or shrinks: a grid gets the whole height left to it.
 */
export function useFillHeight<T extends HTMLElement>(min = 360, bottom = 16) {
  const ref = useRef<T>(null)
  useLayoutEffect(() => {
    const box = ref.current
    if (box === null) return
    let frame = 0
    const fit = () => {
      cancelAnimationFrame(frame)
      frame = requestAnimationFrame(() => {
        const top = box.getBoundingClientRect().top
        const height = Math.max(min, Math.floor(window.innerHeight - top - bottom))
        if (box.style.height !== `${height}px`) box.style.height = `${height}px`
      })
    }
    fit()
    window.addEventListener('resize', fit)
    const observer = new ResizeObserver(fit)
    if (box.parentElement) observer.observe(box.parentElement)
    observer.observe(document.body)
    return () => {
      cancelAnimationFrame(frame)
      window.removeEventListener('resize', fit)
      observer.disconnect()
    }
  }, [min, bottom])
  return ref
}
