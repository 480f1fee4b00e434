import { contractErrors } from '../core/contract-errors'
import { implement } from '@orpc/server'
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

const { guarded } = contractErrors('session', (error) => {
  if (error instanceof AnalystAdminError) return CODES[error.failure]
  if (error instanceof SignInError) return 'FORBIDDEN'
  if (error instanceof ProfileNotFoundError) return 'NOT_FOUND'
  if (error instanceof ServiceUnavailableError || error instanceof KeychainUnavailableError)
    return 'UNAVAILABLE'
  return undefined
})

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
