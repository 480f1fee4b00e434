import { ORPCError } from '@orpc/server'

/** The typed refusals of the contract that carry their message to the user as it is. */
export type RefusalCode = 'NOT_FOUND' | 'CONFLICT' | 'FORBIDDEN' | 'UNAVAILABLE' | 'BAD_REQUEST'

/** Says which refusal a known error is, or undefined for an error nobody expected. */
export type Classify = (error: unknown) => RefusalCode | undefined

export interface ContractErrors {
  /** Rethrows an error as the contract's typed error. */
  raise(error: unknown): never
  /** Wraps a handler so that whatever it throws reaches the UI as a typed error. */
  guarded<A extends unknown[], R>(run: (...args: A) => Promise<R>): (...args: A) => Promise<R>
  /** The same for a streaming procedure. */
  guardedStream<T>(events: AsyncIterable<T>): AsyncGenerator<T>
}

/**
 * Known failures become typed errors with a readable message; anything else is logged in the main
 * process and reaches the UI as one sentence, never a stack. One per area of the contract.
 */
export function contractErrors(area: string, classify: Classify): ContractErrors {
  const raise = (error: unknown): never => {
    if (error instanceof ORPCError) throw error
    const code = classify(error)
    if (code !== undefined) throw new ORPCError(code, { message: (error as Error).message })
    console.error(`[aether] unexpected error in a ${area} call:`, error)
    throw new ORPCError('INTERNAL_SERVER_ERROR', {
      message: 'Something went wrong in the workstation; the details are in its log.',
    })
  }
  return {
    raise,
    guarded:
      (run) =>
      async (...args) => {
        try {
          return await run(...args)
        } catch (error) {
          return raise(error)
        }
      },
    async *guardedStream(events) {
      try {
        yield* events
      } catch (error) {
        raise(error)
      }
    },
  }
}
