import { implement } from '@orpc/server'
import { apiKeysContract, type ApiKey } from '../../shared/gateway-contract'
import type { RefusalCode } from '../../shared/errors'
import { Refusal } from '../errors'
import type { StoreScope } from '../store/scope'
import { ApiKeyAdmin } from './api-keys'

const os = implement(apiKeysContract)

/** A refusal of the team database's key administration, in words an admin can act on. */
export class ApiKeyAdminError extends Refusal {
  constructor(code: RefusalCode, message: string) {
    super(code, message)
    this.name = 'ApiKeyAdminError'
  }
}

export const NOT_AN_ADMIN = 'Only administrators manage API keys; this account is not one.'

/** PostgreSQL's refusals (migration 0008's functions), as the administrator should read them. */
function translate(error: unknown): never {
  if (error instanceof Refusal) throw error
  const code = (error as { code?: unknown }).code
  const message = error instanceof Error ? error.message : String(error)
  if (code === '42501') throw new ApiKeyAdminError('FORBIDDEN', NOT_AN_ADMIN)
  if (code === '23505') throw new ApiKeyAdminError('CONFLICT', message)
  if (code === 'P0002') throw new ApiKeyAdminError('NOT_FOUND', message)
  if (code === '22023') throw new ApiKeyAdminError('BAD_REQUEST', message)
  if (code === '42883')
    throw new ApiKeyAdminError(
      'UNAVAILABLE',
      'This team database has no API keys yet: an operator runs `aether migrate` on it first.',
    )
  throw error
}

/**
 * Settings → API keys. Every call runs on the signed-in analyst's own connection and through the
 * SECURITY DEFINER functions of migration 0008, so PostgreSQL refuses anyone but an admin whatever the
 * UI shows. A new key's secret leaves here once, in the answer to `create`; only its hash is stored.
 */
export function createApiKeysRouter(scope: StoreScope) {
  const admin = () => {
    if (scope.storeMode() !== 'team')
      throw new ApiKeyAdminError(
        'FORBIDDEN',
        'API keys belong to a team database: switch to a Team profile to manage them.',
      )
    return new ApiKeyAdmin(scope.requireStore().db)
  }
  const list = (): Promise<ApiKey[]> => admin().list().catch(translate)

  return os.router({
    list: os.list.handler(() => list()),
    create: os.create.handler(async ({ input }) => {
      const created = await admin().add(input.name, input.scopes).catch(translate)
      const listed = (await list()).find((key) => key.id === created.id)
      if (listed === undefined) throw new Error(`The new key ${created.id} is not in the list of keys`)
      return { apiKey: listed, secret: created.key }
    }),
    revoke: os.revoke.handler(async ({ input }) => {
      // The store revokes by name (one live key per name): the name of this id, if it is still live.
      const target = (await list()).find((key) => key.id === input.id)
      if (target === undefined) throw new ApiKeyAdminError('NOT_FOUND', 'There is no such API key.')
      if (target.revokedAt !== null)
        throw new ApiKeyAdminError('CONFLICT', `The key "${target.name}" is already revoked.`)
      const revoked = await admin().revoke(target.name).catch(translate)
      if (revoked.id !== target.id)
        throw new ApiKeyAdminError('CONFLICT', `The key "${target.name}" changed meanwhile; look again.`)
      return { ...target, revokedAt: revoked.revokedAt }
    }),
  })
}
