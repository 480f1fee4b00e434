import { useEffect, useId, useRef } from 'react'
import { AREAS } from './areas'

const RAIL_KEYS = [
  { keys: ['↑', '↓'], action: 'Move along the area rail' },
  { keys: ['Home', 'End'], action: 'First or last area in the rail' },
  { keys: ['Enter'], action: 'Open the focused area' },
  { keys: ['j', 'k'], action: 'Next or previous row: the case queue, the Transactions grid' },
  { keys: ['Enter'], action: 'Cases: open the case under the cursor; Transactions: open the row' },
  { keys: ['n'], action: 'Cases: take the next case (Next case)' },
  { keys: ['a'], action: 'Cases: assign the case to me' },
  { keys: ['e'], action: 'Cases: escalate the case' },
  { keys: ['r'], action: 'Cases: resolve the case' },
  { keys: ['/'], action: 'Search: focus the user filter' },
  { keys: ['?'], action: 'Show this help' },
  { keys: ['Esc'], action: 'Close this help, or cancel a confirmation' },
]

/** A native modal dialog: it traps focus, closes on Esc and gives focus back by itself. */
export function KeyboardHelp({ onClose }: { onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null)
  const headingId = useId()

  useEffect(() => {
    dialog.current?.showModal()
  }, [])

  return (
    <dialog
      ref={dialog}
      className="dialog"
      aria-labelledby={headingId}
      onClose={onClose}
      data-testid="keyboard-help"
    >
      <h2 id={headingId}>Keyboard shortcuts</h2>
      <table className="shortcut-table">
        <tbody>
          {AREAS.map((area, index) => (
            <tr key={area.id}>
              <td>
                <kbd>Alt</kbd>+<kbd>{index + 1}</kbd>
              </td>
              <td>Open {area.label}</td>
            </tr>
          ))}
          {RAIL_KEYS.map((shortcut) => (
            <tr key={shortcut.action}>
              <td>
                {shortcut.keys.map((key) => (
                  <kbd key={key}>{key}</kbd>
                ))}
              </td>
              <td>{shortcut.action}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="dialog-actions">
        <button type="button" className="button" autoFocus onClick={() => dialog.current?.close()}>
          Close
        </button>
      </div>
    </dialog>
  )
}
