import { MessageChannel } from 'node:worker_threads'
import { createORPCClient } from '@orpc/client'
import { RPCLink } from '@orpc/client/message-port'
import type { ContractRouterClient } from '@orpc/contract'
import { RPCHandler } from '@orpc/server/message-port'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { createRouter } from '../../src/main/core/router'
import { ApiKeyAdmin } from '../../src/main/security/api-keys'
import type { Contract } from '../../src/shared/contract'
import { SHARED_REDIS_URL } from '../support/services'
import { openTestWorkstation, type TestWorkstation } from '../support/workstation'
import { attempt, failsWith } from './support/attempts'
import { openTeamDatabase, urlAs, type Member, type TeamDatabase } from './support/team-database'

/**
 * The Decision API's keys (migrations 0008, 0012): only admins manage them, through the app or straight
 * in SQL; nobody else reads a key's hash, and analysts see only which key sent a transaction, by name.
 */
describe('API keys', () => {
  let team: TeamDatabase
  let desk: TestWorkstation & { client: ContractRouterClient<Contract>; close(): void }
  let liveKeyId: string

  beforeAll(async () => {
    team = await openTeamDatabase()
    liveKeyId = (await new ApiKeyAdmin(team.owner.db).add('sec-live', ['submit'])).id
    // Straight to the Team profile: no Local store to open first.
    const opened = await openTestWorkstation()
    const { port1, port2 } = new MessageChannel()
    new RPCHandler(createRouter(opened.workstation)).upgrade(port2)
    port2.start()
    port1.start()
    desk = {
      ...opened,
      client: createORPCClient(new RPCLink({ port: port1 })),
      close: () => port1.close(),
    }
    const profile = await desk.client.profiles.create({
      name: 'Analyst desk',
      postgresUrl: urlAs(team.database.url, team.logins.analyst),
      redisUrl: SHARED_REDIS_URL,
    })
    await desk.client.session.signIn({ profileId: profile.id, password: 'trust-ignores-it' })
  }, 300_000)

  afterAll(async () => {
    desk?.close()
    await desk?.dispose()
    await team?.dispose()
  })

  it('refuses an analyst key administration through the app', async () => {
    await attempt("an analyst lists the API keys through the workstation's contract", () =>
      failsWith(['FORBIDDEN'], () => desk.client.apiKeys.list()),
    )
    await attempt("an analyst creates an API key through the workstation's contract", () =>
      failsWith(['FORBIDDEN'], () => desk.client.apiKeys.create({ name: 'sec-sneaky', scopes: ['submit'] })),
    )
    await attempt("an analyst revokes an API key through the workstation's contract", () =>
      failsWith(['FORBIDDEN'], () => desk.client.apiKeys.revoke({ id: liveKeyId })),
    )
  })

  const sqlAttempts: [Member, string, string][] = [
    ['analyst', 'reads the API keys’ hashes', 'SELECT hash FROM api_keys'],
    ['supervisor', 'reads the API keys’ hashes', 'SELECT hash FROM api_keys'],
    ['analyst', 'lists the API keys with their scopes', 'SELECT * FROM aether_list_api_keys()'],
    [
      'supervisor',
      'creates an API key',
      "SELECT * FROM aether_add_api_key('sec-x', ARRAY['submit'], decode(repeat('00', 32), 'hex'))",
    ],
    ['analyst', 'revokes an API key', "SELECT * FROM aether_revoke_api_key('sec-live')"],
    ['analyst', 'renames an API key behind its view', "UPDATE api_key_names SET name = 'sec-renamed'"],
    ['ingest', 'creates an API key', "SELECT * FROM aether_add_api_key('sec-y', ARRAY['read'], NULL)"],
    ['ingest', 'revokes an API key', "SELECT * FROM aether_revoke_api_key('sec-live')"],
    ['nobody', 'reads which key sent what', 'SELECT name FROM api_key_names'],
  ]
  it.each(sqlAttempts)('refuses the %s login who %s', async (member, what, statement) => {
    const client = await team.connect(team.logins[member])
    await attempt(`the ${member} login ${what} (${statement})`, () =>
      failsWith(['42501'], () => client.query(statement)),
    )
  })
})
