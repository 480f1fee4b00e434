interface LoadingSkeletonProps {
  /** Read by screen readers in place of the placeholder bars, e.g. "Loading connection profiles". */
  label: string
  rows?: number
}

export function LoadingSkeleton({ label, rows = 4 }: LoadingSkeletonProps) {
  return (
    <div className="skeleton" role="status" aria-busy="true" data-testid="loading-skeleton">
      <span className="visually-hidden">{label}</span>
      {Array.from({ length: rows }, (_, row) => (
        <div key={row} className="skeleton-row" aria-hidden="true" />
      ))}
    </div>
  )
}
