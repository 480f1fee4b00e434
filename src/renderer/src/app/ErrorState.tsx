import type { ReactNode } from 'react'

interface ErrorStateProps {
  title: string
  message: string
  onRetry: () => void
  /** Covers the whole window, for failures that leave nothing else usable. */
  fullWindow?: boolean
  /** Further ways out, shown after Retry. */
  children?: ReactNode
}

export function ErrorState({ title, message, onRetry, fullWindow = false, children }: ErrorStateProps) {
  return (
    <div
      className={fullWindow ? 'state state-error full-window' : 'state state-error'}
      role="alert"
      data-testid="error-state"
    >
      <h2 className="state-title">{title}</h2>
      <p className="state-message" data-testid="error-message">
        {message}
      </p>
      <div className="state-actions">
        <button type="button" className="button primary" onClick={onRetry} data-testid="retry">
          Retry
        </button>
        {children}
      </div>
    </div>
  )
}
