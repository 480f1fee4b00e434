import { useId, type ReactNode } from 'react'

export function Page({ title, children }: { title: string; children: ReactNode }) {
  const headingId = useId()
  return (
    <section className="page" aria-labelledby={headingId}>
      <header className="page-header">
        <h1 id={headingId}>{title}</h1>
      </header>
      <div className="page-body">{children}</div>
    </section>
  )
}
