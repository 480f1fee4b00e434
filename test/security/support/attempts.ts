import { appendFileSync } from 'node:fs'
import { expect, inject } from 'vitest'

declare module 'vitest' {
  export interface ProvidedContext {
    securityLedger: string
  }
}

export interface Outcome {
  refused: boolean
  /** What happened, in words: the error PostgreSQL raised, or what changed. */
  detail: string
}

export interface AttemptRecord extends Outcome {
  attempt: string
}

const describeError = (error: unknown) => {
  const code = (error as { code?: unknown }).code
  const message = error instanceof Error ? error.message : String(error)
  return typeof code === 'string' ? `${code} ${message}` : message
}

/**
 * Tries one forbidden action and records the outcome in the suite's ledger. The attempt itself
 * judges: anything it cannot prove refused (an unexpected error included) counts as allowed.
 */
export async function attempt(description: string, run: () => Promise<Outcome>): Promise<void> {
  let outcome: Outcome
  try {
    outcome = await run()
  } catch (error) {
    outcome = { refused: false, detail: `could not be judged: ${describeError(error)}` }
  }
  const record: AttemptRecord = { attempt: description, ...outcome }
  appendFileSync(inject('securityLedger'), `${JSON.stringify(record)}\n`)
  expect(outcome.refused, `${description}: ${outcome.detail}`).toBe(true)
}

/** Refused when the action throws an error with one of these codes (SQLSTATE, HTTP status…). */
export async function failsWith(codes: readonly string[], run: () => Promise<unknown>): Promise<Outcome> {
  try {
    await run()
    return { refused: false, detail: 'it succeeded' }
  } catch (error) {
    const code = String((error as { code?: unknown }).code ?? '')
    return codes.includes(code)
      ? { refused: true, detail: describeError(error) }
      : { refused: false, detail: `failed, but not as a refusal: ${describeError(error)}` }
  }
}
