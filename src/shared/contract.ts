import { eventIterator } from '@orpc/contract'
import { z } from 'zod'
import { datasetsContract } from './datasets-contract'
import { base } from './errors'
import { apiKeysContract, gatewaysContract } from './gateway-contract'
import { pipelineContract } from './pipeline-contract'
import { ConnectionReport, Profile, ProfileList, TeamProfileDraft } from './profile'
import { sessionContract } from './session-contract'
import { triageContract } from './triage-contract'

/**
 * The one door between the renderer and the main process. Both transports (Electron IPC and the
 * loopback WebSocket host) serve exactly this contract, validated on the main side.
 */

export const AppMode = z.enum(['local', 'team'])
export type AppMode = z.infer<typeof AppMode>

export const AppStatus = z.object({
  state: z.enum(['starting', 'ready', 'error']),
  version: z.string(),
  mode: AppMode,
  profileId: z.string(),
  profileName: z.string(),
  store: z.object({
    engine: z.enum(['pglite', 'postgresql']),
    /** Name of the newest migration applied to the store, or null before the first. */
    schemaVersion: z.string().nullable(),
    latestSchemaVersion: z.string(),
  }),
  /** Readable reason when state is 'error'. */
  message: z.string().optional(),
})
export type AppStatus = z.infer<typeof AppStatus>

export const MigrationResult = z.object({
  applied: z.array(z.string()),
  schemaVersion: z.string().nullable(),
})
export type MigrationResult = z.infer<typeof MigrationResult>

const profileId = z.object({ id: z.string().min(1).max(64) })

export const contract = {
  app: {
    status: base.output(AppStatus),
    /** Pushes the status now and on every change (profile switch, store error, recovery). */
    watchStatus: base.output(eventIterator(AppStatus)),
    migrate: base.output(MigrationResult),
  },
  pipeline: pipelineContract,
  session: sessionContract,
  triage: triageContract,
  datasets: datasetsContract,
  apiKeys: apiKeysContract,
  gateways: gatewaysContract,
  profiles: {
    list: base.output(ProfileList),
    create: base.input(TeamProfileDraft).output(Profile),
    update: base.input(profileId.extend({ draft: TeamProfileDraft })).output(Profile),
    remove: base.input(profileId).output(ProfileList),
    /** Test a saved profile, or a draft before saving it. */
    test: base
      .input(z.union([profileId, z.object({ draft: TeamProfileDraft, id: z.string().max(64).optional() })]))
      .output(ConnectionReport),
    activate: base.input(profileId).output(AppStatus),
  },
}

export type Contract = typeof contract
