/**
 * A text as a message shows it: whole when short, else its first `max` characters and its length (a
 * line of a file, or an error that echoes one, may be megabytes). `quoted` puts the shown part in quotes.
 */
export function excerpt(text: string, max: number, quoted = false): string {
  const q = quoted ? '"' : ''
  if (text.length <= max) return `${q}${text}${q}`
  return `${q}${text.slice(0, max)}…${q} (${text.length.toLocaleString('en-US')} characters)`
}
