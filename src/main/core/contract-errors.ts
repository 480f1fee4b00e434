import { mapEventIterator } from '@orpc/client'
import { ORPCError } from '@orpc/server'
import { Refusal } from '../errors'

const UNEXPECTED = 'Something went wrong in the workstation; the details are in its log.'

/**
 * The contract's one error model. A Refusal becomes the contract's typed error of its code, with its
 * message; anything else is logged in the main process and reaches the UI as one sentence, never a stack.
 */
export function toContractError(error: unknown, procedure: readonly string[]): ORPCError<string, unknown> {
  if (error instanceof ORPCError) return error
  if (error instanceof Refusal) return new ORPCError(error.code, { message: error.message })
  console.error(`[aether] unexpected error in ${procedure.join('.')}:`, error)
  return new ORPCError('INTERNAL_SERVER_ERROR', { message: UNEXPECTED })
}

const isStream = (output: unknown): output is AsyncIterator<unknown> & AsyncIterable<unknown> =>
  typeof output === 'object' &&
  output !== null &&
  Symbol.asyncIterator in output &&
  typeof output[Symbol.asyncIterator] === 'function'

/**
 * A procedure's output with the error model applied to its streamed events too: an error while streaming
 * ends the stream with the same typed error.
 */
export function withContractErrors(output: unknown, procedure: readonly string[]): unknown {
  if (!isStream(output)) return output
  return mapEventIterator(output, {
    value: async (value) => value,
    error: async (error) => toContractError(error, procedure),
  })
}
