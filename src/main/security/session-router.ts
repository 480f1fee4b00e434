import { implement, ORPCError } from '@orpc/server'
import { sessionContract } from '../../shared/session-contract'
import { ProfileNotFoundError } from '../core/profiles'
import { ServiceUnavailableError, type Workstation } from '../core/workstation'
import { KeychainUnavailableError } from '../secrets/keychain'
import { AnalystAdminError, type AnalystAdminFailure } from './analysts'
import { Sessions, SignInError } from './sessions'

const os = implement(sessionContract)

const CODES: Record<
  AnalystAdminFailure,
  'FORBIDDEN' | 'CONFLICT' | 'NOT_FOUND' | 'BAD_REQUEST' | 'UNAVAILABLE'
> = {
  forbidden: 'FORBIDDEN',
  conflict: 'CONFLICT',
  not_found: 'NOT_FOUND',
  invalid: 'BAD_REQUEST',
  outdated: 'UNAVAILABLE',
}

/** Known refusals keep their words; anything else stays in the main process log, never in the UI. */
function asContractError(error: unknown): never {
  if (error instanceof ORPCError) throw error
  if (error instanceof AnalystAdminError)
    throw new ORPCError(CODES[error.failure], { message: error.message })
  if (error instanceof SignInError) throw new ORPCError('FORBIDDEN', { message: error.message })
  if (error instanceof ProfileNotFoundError) throw new ORPCError('NOT_FOUND', { message: error.message })
  if (error instanceof ServiceUnavailableError || error instanceof KeychainUnavailableError)
    throw new ORPCError('UNAVAILABLE', { message: error.message })
  console.error('[aether] unexpected error in a session call:', error)
  throw new ORPCError('INTERNAL_SERVER_ERROR', {
    message: 'Something went wrong in the workstation; the details are in its log.',
  })
}

const guarded =
  <A extends unknown[], R>(run: (...args: A) => Promise<R>) =>
  async (...args: A): Promise<R> => {
    try {
      return await run(...args)
    } catch (error) {
      return asContractError(error)
    }
  }

export function createSessionRouter(workstation: Workstation) {
  const sessions = new Sessions(workstation)
  return os.router({
    whoami: os.whoami.handler(guarded(() => sessions.whoami())),
    signIn: os.signIn.handler(guarded(({ input }) => sessions.signIn(input.profileId, input.password))),
    signOut: os.signOut.handler(guarded(({ input }) => sessions.signOut(input.profileId))),
    analysts: {
      list: os.analysts.list.handler(guarded(() => sessions.analysts().list())),
      add: os.analysts.add.handler(guarded(({ input }) => sessions.analysts().add(input))),
      disable: os.analysts.disable.handler(guarded(({ input }) => sessions.analysts().disable(input.login))),
      enable: os.analysts.enable.handler(guarded(({ input }) => sessions.analysts().enable(input.login))),
      setRole: os.analysts.setRole.handler(
        guarded(({ input }) => sessions.analysts().setRole(input.login, input.role)),
      ),
      setIngest: os.analysts.setIngest.handler(
        guarded(({ input }) => sessions.analysts().setIngest(input.login, input.ingests)),
      ),
    },
  })
}
