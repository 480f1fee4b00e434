import { useRef, type KeyboardEvent } from 'react'
import { AREAS, type AreaId } from './areas'

interface RailProps {
  active: AreaId
  onOpen: (area: AreaId) => void
}

/** Only the active area is in the Tab order; arrows, Home and End move focus along the rail. */
export function Rail({ active, onOpen }: RailProps) {
  const buttons = useRef<(HTMLButtonElement | null)[]>([])

  function moveFocus(event: KeyboardEvent<HTMLElement>) {
    const current = buttons.current.findIndex((button) => button === document.activeElement)
    if (current < 0) return
    const last = AREAS.length - 1
    const targets: Record<string, number> = {
      ArrowDown: current === last ? 0 : current + 1,
      ArrowUp: current === 0 ? last : current - 1,
      Home: 0,
      End: last,
    }
    const target = targets[event.key]
    if (target === undefined) return
    event.preventDefault()
    buttons.current[target]?.focus()
  }

  return (
    <nav className="rail" aria-label="Areas" onKeyDown={moveFocus}>
      <ul>
        {AREAS.map((area, index) => (
          <li key={area.id}>
            <button
              type="button"
              ref={(button) => {
                buttons.current[index] = button
              }}
              className="rail-item"
              data-testid={`nav-${area.id}`}
              aria-current={area.id === active ? 'page' : undefined}
              aria-keyshortcuts={`Alt+${index + 1}`}
              tabIndex={area.id === active ? 0 : -1}
              title={`${area.label} (Alt+${index + 1})`}
              onClick={() => onOpen(area.id)}
            >
              <span>{area.label}</span>
              {/* A shortcut, in the words a menu uses: a bare digit in a box reads as an unread count. */}
              <span className="rail-shortcut" aria-hidden="true" data-testid="rail-shortcut">
                Alt+{index + 1}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </nav>
  )
}
