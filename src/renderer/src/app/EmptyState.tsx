import type { ReactNode } from 'react'

interface EmptyStateProps {
  title: string
  /** What the analyst can do, or what will make this view fill up. */
  children: ReactNode
}

export function EmptyState({ title, children }: EmptyStateProps) {
  return (
    <div className="state" data-testid="empty-state">
      <h2 className="state-title">{title}</h2>
      <p className="state-hint">{children}</p>
    </div>
  )
}
