import { isDeepStrictEqual } from 'node:util'

/**
 * Waiting on what a test can see instead of sleeping. For a process told to stop (a paused pipeline),
 * whose last piece of work may still land after it was told.
 */

const LOOK_EVERY_MS = 100

/**
 * Waits until the probe's value meets `done` and stays the same on every look for `quietMs`; fails with
 * the last value seen once `timeoutMs` has passed.
 */
export async function settles<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  quietMs: number,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let since: { value: T; at: number } | undefined
  for (;;) {
    const value = await probe()
    if (!done(value)) since = undefined
    else if (since === undefined || !isDeepStrictEqual(since.value, value)) since = { value, at: Date.now() }
    else if (Date.now() - since.at >= quietMs) return value
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting for ${what}; last seen: ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, LOOK_EVERY_MS))
  }
}

/** Looks for `forMs`, failing at the first look whose value is not `expected`. */
export async function holds<T>(what: string, probe: () => Promise<T>, expected: T, forMs: number) {
  const until = Date.now() + forMs
  for (;;) {
    const value = await probe()
    if (!isDeepStrictEqual(value, expected))
      throw new Error(`Expected ${what}: ${JSON.stringify(expected)}, but saw ${JSON.stringify(value)}`)
    if (Date.now() >= until) return
    await new Promise((resolve) => setTimeout(resolve, LOOK_EVERY_MS))
  }
}
