import { oc } from '@orpc/contract'

/**
 * The refusals any procedure may answer with: typed errors whose message is meant for the user. Declared
 * once for every contract, so the client can tell each one apart (`isDefinedError`) from a failure
 * nobody expected.
 */
export const REFUSALS = {
  NOT_FOUND: { message: 'Not found' },
  CONFLICT: { message: 'Conflict' },
  FORBIDDEN: { message: 'Not allowed' },
  /** Input the domain refuses; also the contract's own validation failures, with `data.issues`. */
  BAD_REQUEST: { message: 'Refused' },
  UNAVAILABLE: { message: 'A service is unavailable' },
}

export type RefusalCode = keyof typeof REFUSALS

/** Where every procedure of the contract starts: its refusals declared. */
export const base = oc.errors(REFUSALS)
