import type { RefusalCode } from '../shared/errors'
import type { ConnectionReport } from '../shared/profile'

/**
 * A failure the user can act on. The router answers it with the contract's typed error of this code and
 * this message (core/contract-errors.ts); anything else is an internal error, logged and never shown.
 */
export class Refusal extends Error {
  constructor(
    readonly code: RefusalCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.name = 'Refusal'
  }
}

/** Something the call needs (the store, PostgreSQL, Redis, the keychain) is not there right now. */
export class ServiceUnavailableError extends Refusal {
  constructor(
    message: string,
    readonly report?: ConnectionReport,
  ) {
    super('UNAVAILABLE', message)
    this.name = 'ServiceUnavailableError'
  }
}

/** An error's message, or the thrown value as text when it is not an Error. */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))
