import { Refusal } from '../errors'

/** Triage failures an analyst can act on: refusals, so each reaches the UI as the contract's typed error. */

export class TriageNotFoundError extends Refusal {
  override readonly name = 'TriageNotFoundError'
  constructor(message: string) {
    super('NOT_FOUND', message)
  }
}

/** A stale edit, or a change that no longer fits the record's state: reload and decide again. */
export class TriageConflictError extends Refusal {
  override readonly name = 'TriageConflictError'
  constructor(message: string) {
    super('CONFLICT', message)
  }
}

/** The signed-in analyst may not do this (the database refused it, or the rule is ours to check first). */
export class TriageForbiddenError extends Refusal {
  override readonly name = 'TriageForbiddenError'
  constructor(message: string) {
    super('FORBIDDEN', message)
  }
}

/** Input that passed the contract's shape but not the domain's rules, e.g. closing without an outcome. */
export class TriageInvalidError extends Refusal {
  override readonly name = 'TriageInvalidError'
  constructor(message: string) {
    super('BAD_REQUEST', message)
  }
}

const PG_INSUFFICIENT_PRIVILEGE = '42501'
const PG_UNIQUE_VIOLATION = '23505'
const PG_INVALID_TEXT = '22P02'
const PG_CHECK_VIOLATION = '23514'

const codeOf = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined

/**
 * The database is the judge of permissions (row-level security, grants): its refusals become readable
 * errors here instead of internal ones.
 */
export function fromDatabaseError(error: unknown, what: string): Error {
  const code = codeOf(error)
  if (code === PG_INSUFFICIENT_PRIVILEGE)
    return new TriageForbiddenError(`Your role may not ${what}. Ask a supervisor or an admin.`)
  if (code === PG_UNIQUE_VIOLATION) return new TriageConflictError(`Cannot ${what}: it exists already.`)
  if (code === PG_INVALID_TEXT || code === PG_CHECK_VIOLATION)
    return new TriageInvalidError(
      `Cannot ${what}: ${error instanceof Error ? error.message : 'invalid value'}.`,
    )
  return error instanceof Error ? error : new Error(String(error))
}

/** Runs a database step, translating the database's refusals into triage errors. */
export async function judged<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (error) {
    throw fromDatabaseError(error, what)
  }
}
