import { createHash } from 'node:crypto'
import { MessageChannel } from 'node:worker_threads'
import { createORPCClient, ORPCError } from '@orpc/client'
import { RPCLink } from '@orpc/client/message-port'
import type { ContractRouterClient } from '@orpc/contract'
import { RPCHandler } from '@orpc/server/message-port'
import { Redis } from 'ioredis'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRouter } from '../../src/main/core/router'
import { gatewaysView } from '../../src/main/gateway/gateways-router'
import { GatewayActivity, GatewayPublisher } from '../../src/main/gateway/registry'
import { NOT_AN_ADMIN } from '../../src/main/security/api-keys-router'
import { ApiKeyVerifier, MAX_CACHED_KEYS } from '../../src/main/security/api-keys'
import type { Contract } from '../../src/shared/contract'
import { seedScored } from '../support/triage'
import { SHARED_REDIS_URL, uniqueName } from '../support/services'
import { openTestWorkstation, type TestWorkstation } from '../support/workstation'
import { openTeamDatabase, urlAs, type TeamDatabase } from '../security/support/team-database'

/**
 * Settings → API keys and the Dashboard's gateways through the app's contract, as the renderer calls
 * them, on a team database of the test's own: PostgreSQL (migration 0008's functions) decides who may.
 */

type Client = ContractRouterClient<Contract>
type Desk = TestWorkstation & { client: Client }

/**
 * A workstation driven through its contract. `start` opens the Local profile first (its embedded store);
 * a desk that signs in straight away switches to the Team profile without it, as on a busy machine the
 * embedded store's first migration is the slow part of a start.
 */
async function openDesk(start: boolean): Promise<Desk> {
  const opened = await openTestWorkstation()
  if (start) await opened.workstation.start()
  const { port1, port2 } = new MessageChannel()
  new RPCHandler(createRouter(opened.workstation)).upgrade(port2)
  port2.start()
  const client: Client = createORPCClient(new RPCLink({ port: port1 }))
  port1.start()
  return {
    ...opened,
    client,
    dispose: async () => {
      port1.close()
      await opened.dispose()
    },
  }
}

/** Signs the desk in to the team database as this login (trust authentication: any password). */
async function signIn(desk: Desk, team: TeamDatabase, login: string) {
  const profile = await desk.client.profiles.create({
    name: `Team as ${login}`,
    postgresUrl: urlAs(team.database.url, login),
    redisUrl: SHARED_REDIS_URL,
  })
  return desk.client.session.signIn({ profileId: profile.id, password: 'trust-ignores-it' })
}

async function refusal(run: () => Promise<unknown>): Promise<ORPCError<string, unknown>> {
  const error = await run().then(
    () => undefined,
    (failure: unknown) => failure,
  )
  expect(error, 'the call was not refused').toBeInstanceOf(ORPCError)
  return error as ORPCError<string, unknown>
}

const KEY_SHAPE = /^aek_(\d+)_([A-Za-z0-9_-]{43})$/

describe('API keys through the app', () => {
  let team: TeamDatabase
  let admin: Desk
  let analyst: Desk
  let local: Desk

  beforeAll(async () => {
    team = await openTeamDatabase()
    ;[admin, analyst, local] = await Promise.all([openDesk(false), openDesk(false), openDesk(true)])
    expect(await signIn(admin, team, team.logins.admin)).toMatchObject({ role: 'admin', canAdminister: true })
    expect(await signIn(analyst, team, team.logins.analyst)).toMatchObject({
      role: 'analyst',
      canAdminister: false,
    })
  }, 300_000)

  afterAll(async () => {
    for (const desk of [admin, analyst, local]) await desk?.dispose()
    await team?.dispose()
  })

  const storedKeys = async () =>
    (
      await sql<{ id: string; name: string; hash: Buffer; revoked_at: Date | null }>`
        SELECT id::text, name, hash, revoked_at FROM api_keys ORDER BY id`.execute(team.owner.db)
    ).rows

  it('lets an admin create a key: shown once, only its hash stored, and the gateway accepts it', async () => {
    const created = await admin.client.apiKeys.create({ name: 'payments-eu', scopes: ['submit'] })
    expect(created.apiKey).toMatchObject({
      name: 'payments-eu',
      scopes: ['submit'],
      createdBy: team.logins.admin,
      revokedAt: null,
      lastUsedAt: null,
    })
    const [, id, secret] = KEY_SHAPE.exec(created.secret) ?? []
    expect(id).toBe(created.apiKey.id)

    const [row] = (await storedKeys()).filter((key) => key.id === id)
    expect(
      row?.hash.equals(
        createHash('sha256')
          .update(secret ?? '')
          .digest(),
      ),
    ).toBe(true)
    // Nothing in the store holds the key or its secret in plain text.
    const { rows } = await sql<{ text: string }>`SELECT api_keys::text AS text FROM api_keys`.execute(
      team.owner.db,
    )
    for (const each of rows) expect(each.text).not.toContain(secret)

    // Never shown again: the list carries no secret.
    const listed = await admin.client.apiKeys.list()
    expect(listed.map((key) => key.name)).toContain('payments-eu')
    expect(JSON.stringify(listed)).not.toContain(secret)

    const verifier = new ApiKeyVerifier(team.owner.db)
    expect(await verifier.verify(created.secret)).toMatchObject({ id, name: 'payments-eu' })
  })

  it('holds a bounded cache while a client sends made-up key ids, and still checks real keys', async () => {
    const created = await admin.client.apiKeys.create({ name: 'under-flood', scopes: ['read'] })
    const verifier = new ApiKeyVerifier(team.owner.db, 60_000)
    const made = (i: number) => `aek_${900_000_000 + i}_${'A'.repeat(43)}`
    for (let start = 0; start < MAX_CACHED_KEYS * 1.5; start += 500)
      expect(
        await Promise.all(Array.from({ length: 500 }, (_, i) => verifier.verify(made(start + i)))),
      ).toEqual(Array.from({ length: 500 }, () => undefined))
    expect(verifier.cachedKeys).toBeLessThanOrEqual(MAX_CACHED_KEYS)
    expect(await verifier.verify(created.secret)).toMatchObject({ name: 'under-flood' })
  }, 120_000)

  it('refuses a second live key of the same name, and a bad name, each as the field’s own error', async () => {
    await admin.client.apiKeys.create({ name: 'dup', scopes: ['read'] })
    const duplicate = await refusal(() => admin.client.apiKeys.create({ name: 'dup', scopes: ['read'] }))
    expect(duplicate.code).toBe('CONFLICT')
    expect(duplicate.message).toContain('A key named "dup" exists')

    const badName = await refusal(() => admin.client.apiKeys.create({ name: 'has space', scopes: ['read'] }))
    expect(badName.code).toBe('BAD_REQUEST')
    expect(JSON.stringify(badName.data)).toContain('no spaces')
    const noScope = await refusal(() => admin.client.apiKeys.create({ name: 'none', scopes: [] }))
    expect(JSON.stringify(noScope.data)).toContain('Choose what the key may do')
    expect((await storedKeys()).map((key) => key.name)).not.toContain('none')
  })

  it('revokes a key with its id: the gateway refuses it, and a second revocation is refused', async () => {
    const created = await admin.client.apiKeys.create({ name: 'to-revoke', scopes: ['submit', 'read'] })
    const revoked = await admin.client.apiKeys.revoke({ id: created.apiKey.id })
    expect(revoked).toMatchObject({ id: created.apiKey.id, name: 'to-revoke' })
    expect(revoked.revokedAt).not.toBeNull()
    expect(await new ApiKeyVerifier(team.owner.db).verify(created.secret)).toBeUndefined()
    const again = await refusal(() => admin.client.apiKeys.revoke({ id: created.apiKey.id }))
    expect(again.code).toBe('CONFLICT')
    const unknown = await refusal(() => admin.client.apiKeys.revoke({ id: '999999' }))
    expect(unknown.code).toBe('NOT_FOUND')
  })

  it('refuses an analyst every call in the main process, whatever the UI shows', async () => {
    const before = await storedKeys()
    for (const call of [
      () => analyst.client.apiKeys.list(),
      () => analyst.client.apiKeys.create({ name: 'sneaky', scopes: ['submit'] }),
      () => analyst.client.apiKeys.revoke({ id: before[0]?.id ?? '1' }),
    ]) {
      const refused = await refusal(call)
      expect(refused.code).toBe('FORBIDDEN')
      expect(refused.message).toBe(NOT_AN_ADMIN)
    }
    expect(await storedKeys()).toEqual(before)
  })

  it('refuses key management in Local mode', async () => {
    const refused = await refusal(() => local.client.apiKeys.list())
    expect(refused.code).toBe('FORBIDDEN')
    expect(refused.message).toContain('switch to a Team profile')
  })

  it('shows an analyst which key sent a transaction, by name, though api_keys itself stays closed to them', async () => {
    const created = await admin.client.apiKeys.create({ name: 'shop-checkout', scopes: ['submit'] })
    const [viaKey, viaStream] = await seedScored(team.owner, [
      { userId: 'C-sent-by', decision: 'block' },
      { userId: 'C-sent-by' },
    ])
    await sql`UPDATE transactions SET api_key_id = ${created.apiKey.id}::bigint WHERE txn_id = ${viaKey}`.execute(
      team.owner.db,
    )
    await admin.client.apiKeys.revoke({ id: created.apiKey.id })

    const page = await analyst.client.triage.transactions.page({
      filter: { userId: 'C-sent-by' },
      sort: { column: 'ts', direction: 'desc' },
      offset: 0,
      limit: 10,
    })
    const byId = new Map(page.rows.map((row) => [row.txnId, row.sentBy]))
    expect(byId.get(viaKey ?? '')).toEqual({ keyId: created.apiKey.id, name: 'shop-checkout', revoked: true })
    expect(byId.get(viaStream ?? '')).toBeNull()
    const detail = await analyst.client.triage.transactions.detail({ txnId: viaKey ?? '' })
    expect(detail.transaction.sentBy?.name).toBe('shop-checkout')
    // The CSV export has the grid's "Sent by" too: the key's name, blank for the other.
    let csv = ''
    for await (const chunk of await analyst.client.triage.transactions.exportCsv({
      filter: { userId: 'C-sent-by' },
      sort: { column: 'ts', direction: 'desc' },
      maxRows: 10,
    }))
      csv += chunk.csv
    const [header, ...lines] = csv.trimEnd().split('\r\n')
    const columns = (header ?? '').split(',')
    expect(columns.at(-1)).toBe('sent_by')
    const exported = new Map(
      lines.map((line) => {
        const cells = line.split(',')
        return [cells[0], cells[columns.indexOf('sent_by')]]
      }),
    )
    expect(exported).toEqual(
      new Map([
        [viaKey, 'shop-checkout (revoked)'],
        [viaStream, ''],
      ]),
    )

    const connection = await team.connect(team.logins.analyst)
    const names = await connection.query('SELECT id, name, revoked FROM api_key_names')
    expect(names.rows.map((row: { name: string }) => row.name)).toContain('shop-checkout')
    await expect(connection.query('SELECT hash FROM api_keys')).rejects.toMatchObject({ code: '42501' })
  })
})

describe('the Dashboard’s gateways', () => {
  const prefix = `${uniqueName('aether_gwview')}:`
  let redis: Redis

  beforeAll(() => {
    redis = new Redis(SHARED_REDIS_URL)
  })

  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  })

  it('says there is none in Team mode until one reports, then shows it alive with its figures', async () => {
    const scope = { storeMode: () => 'team' as const, teamStreams: () => ({ redis, prefix }) }
    expect(await gatewaysView(scope)).toMatchObject({ mode: 'team', gateways: [] })

    // The activity's own clock, moved on a second so the recorded one counts as a full second.
    let now = Date.now()
    const activity = new GatewayActivity(() => now)
    const publisher = new GatewayPublisher(redis, prefix, 'gw-test-1', 'http://127.0.0.1:8080', activity)
    activity.request('/v1/transactions', 401, undefined)
    activity.request('/v1/transactions', 403, 'payments-eu')
    activity.request('/v1/transactions', 403, 'payments-eu')
    activity.request('/v1/transactions', 200, 'payments-eu')
    activity.decided(true, 12)
    now += 1000
    await publisher.start()
    try {
      const view = await gatewaysView(scope)
      expect(view.message).toBeUndefined()
      expect(view.gateways).toHaveLength(1)
      expect(view.gateways[0]).toMatchObject({
        id: 'gw-test-1',
        url: 'http://127.0.0.1:8080',
        alive: true,
        p99Ms: 12,
        finalPct: 100,
        errorsByKey: [
          { key: 'payments-eu', errors: 2 },
          { key: '(no key)', errors: 1 },
        ],
      })
      expect(view.gateways[0]?.requestsPerSecond).toBeGreaterThan(0)
    } finally {
      await publisher.stop()
    }
    expect((await gatewaysView(scope)).gateways).toEqual([])
  })

  it('hides them in Local mode, and says why when the team Redis cannot be read', async () => {
    const localView = await gatewaysView({ storeMode: () => 'local', teamStreams: () => ({ reason: 'x' }) })
    expect(localView).toMatchObject({ mode: 'local', gateways: [] })

    const away = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 1 })
    away.on('error', () => {})
    try {
      const view = await gatewaysView({
        storeMode: () => 'team',
        teamStreams: () => ({ redis: away, prefix }),
      })
      expect(view.gateways).toEqual([])
      expect(view.message).toMatch(/could not be read from the team Redis/)
    } finally {
      away.disconnect()
    }
  })
})
