import { implement } from '@orpc/server'
import { sessionContract } from '../../shared/session-contract'
import { Sessions, type SessionScope } from './sessions'

const os = implement(sessionContract)

/**
 * Sessions and analyst administration. What a handler throws reaches the UI through the router's one
 * error model (core/contract-errors.ts): sign-in and administration refusals as typed errors.
 */
export function createSessionRouter(scope: SessionScope) {
  const sessions = new Sessions(scope)
  return os.router({
    whoami: os.whoami.handler(() => sessions.whoami()),
    signIn: os.signIn.handler(({ input }) => sessions.signIn(input.profileId, input.password)),
    signOut: os.signOut.handler(({ input }) => sessions.signOut(input.profileId)),
    analysts: {
      list: os.analysts.list.handler(() => sessions.analysts().list()),
      add: os.analysts.add.handler(({ input }) => sessions.analysts().add(input)),
      disable: os.analysts.disable.handler(({ input }) => sessions.analysts().disable(input.login)),
      enable: os.analysts.enable.handler(({ input }) => sessions.analysts().enable(input.login)),
      setRole: os.analysts.setRole.handler(({ input }) =>
        sessions.analysts().setRole(input.login, input.role),
      ),
      setIngest: os.analysts.setIngest.handler(({ input }) =>
        sessions.analysts().setIngest(input.login, input.ingests),
      ),
    },
  })
}
