import { implement } from '@orpc/server'
import { contract } from '../../shared/contract'
import { createDatasetsRouter } from '../analysis/datasets-router'
import { createGatewaysRouter } from '../gateway/gateways-router'
import { createApiKeysRouter } from '../security/api-keys-router'
import { createSessionRouter } from '../security/session-router'
import { createTriageRouter, rulePublisher } from '../triage/router'
import { toContractError, withContractErrors } from './contract-errors'
import type { Workstation } from './workstation'

const os = implement(contract)

/**
 * The one place where what a handler throws becomes what the UI sees: refusals as the contract's typed
 * errors, anything else as one sentence (./contract-errors.ts). Every procedure, every area, goes through it.
 */
const contractErrors = os.middleware(async ({ next, path }) => {
  try {
    const result = await next()
    return { ...result, output: withContractErrors(result.output, path) }
  } catch (error) {
    throw toContractError(error, path)
  }
})

/**
 * The composition root of the contract: each area gets the narrow part of the Workstation it uses (the
 * store scope, the datasets, a way to publish rules), never the Workstation itself.
 */
export function createRouter(workstation: Workstation) {
  return os.use(contractErrors).router({
    app: {
      status: os.app.status.handler(() => workstation.status()),
      watchStatus: os.app.watchStatus.handler(({ signal }) => workstation.watchStatus(signal)),
      migrate: os.app.migrate.handler(() => workstation.migrate()),
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
    apiKeys: createApiKeysRouter(workstation),
    gateways: createGatewaysRouter({
      storeMode: () => workstation.storeMode(),
      teamStreams: () => workstation.pipeline.teamStreams(),
    }),
    triage: createTriageRouter(workstation),
    datasets: createDatasetsRouter({
      datasets: workstation.datasets,
      publishRules: rulePublisher(workstation),
    }),
    profiles: {
      list: os.profiles.list.handler(() => workstation.profiles.list()),
      create: os.profiles.create.handler(({ input }) => workstation.profiles.create(input)),
      update: os.profiles.update.handler(({ input }) => workstation.profiles.update(input.id, input.draft)),
      remove: os.profiles.remove.handler(({ input }) => workstation.removeProfile(input.id)),
      test: os.profiles.test.handler(({ input }) =>
        'draft' in input ? workstation.testDraft(input.draft, input.id) : workstation.testProfile(input.id),
      ),
      activate: os.profiles.activate.handler(({ input }) => workstation.activate(input.id)),
    },
  })
}

export type AetherRouter = ReturnType<typeof createRouter>
