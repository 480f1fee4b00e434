/**
 * How deep a request body's JSON may nest. A transaction is flat and a batch three levels deep; a 2 MB
 * batch body of a million nested arrays took JSON.parse 0.65 s on the gateway's one thread (and the
 * arrays' garbage after it), during which no other request was answered.
 */
export const MAX_JSON_DEPTH = 16

/**
 * Whether `text` opens more than `max` arrays and objects inside each other, outside strings. One pass
 * over the characters, stopping at the first level too deep: microseconds for a transaction, a few
 * milliseconds for a 2 MB batch. Malformed JSON is left for the parser to explain.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return false
}
