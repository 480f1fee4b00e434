import { contractErrors } from './contract-errors'
import { implement } from '@orpc/server'
import { contract } from '../../shared/contract'
import { createDatasetsRouter } from '../analysis/datasets-router'
import { KeychainUnavailableError } from '../secrets/keychain'
import { createSessionRouter } from '../security/session-router'
import { MigrationError } from '../store/migrate'
import { createTriageRouter } from '../triage/router'
import { ProfileConflictError, ProfileNotFoundError } from './profiles'
import { ServiceUnavailableError, type Workstation } from './workstation'

const os = implement(contract)

/**
 * Known failures become the contract's typed errors with a readable message; anything else is an
 * internal error whose details stay in the main process log, never in the UI.
 */
const { guarded } = contractErrors('contract call', (error) => {
  if (error instanceof ProfileNotFoundError) return 'NOT_FOUND'
  if (error instanceof ProfileConflictError) return 'CONFLICT'
  if (
    error instanceof ServiceUnavailableError ||
    error instanceof KeychainUnavailableError ||
    error instanceof MigrationError
  )
    return 'UNAVAILABLE'
  return undefined
})

export function createRouter(workstation: Workstation) {
  return os.router({
    app: {
      status: os.app.status.handler(() => workstation.status()),
      watchStatus: os.app.watchStatus.handler(({ signal }) => workstation.watchStatus(signal)),
      migrate: os.app.migrate.handler(guarded(() => workstation.migrate())),
    },
    pipeline: {
      status: os.pipeline.status.handler(() => workstation.pipeline.status()),
      pause: os.pipeline.pause.handler(() => workstation.pipeline.pause()),
      resume: os.pipeline.resume.handler(() => workstation.pipeline.resume()),
      deadLetters: os.pipeline.deadLetters.handler(({ input }) =>
        workstation.pipeline.deadLetters(input?.limit),
      ),
      watchPipeline: os.pipeline.watchPipeline.handler(({ signal }) => workstation.pipeline.watch(signal)),
    },
    session: createSessionRouter(workstation),
    triage: createTriageRouter(workstation),
    datasets: createDatasetsRouter(workstation),
    profiles: {
      list: os.profiles.list.handler(guarded(() => workstation.profiles.list())),
      create: os.profiles.create.handler(guarded(({ input }) => workstation.profiles.create(input))),
      update: os.profiles.update.handler(
        guarded(({ input }) => workstation.profiles.update(input.id, input.draft)),
      ),
      remove: os.profiles.remove.handler(guarded(({ input }) => workstation.removeProfile(input.id))),
      test: os.profiles.test.handler(
        guarded(({ input }) =>
          'draft' in input ? workstation.testDraft(input.draft, input.id) : workstation.testProfile(input.id),
        ),
      ),
      activate: os.profiles.activate.handler(guarded(({ input }) => workstation.activate(input.id))),
    },
  })
}

export type AetherRouter = ReturnType<typeof createRouter>
