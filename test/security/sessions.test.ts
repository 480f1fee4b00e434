import { randomBytes } from 'node:crypto'
import { MessageChannel } from 'node:worker_threads'
import { createORPCClient, type ORPCError } from '@orpc/client'
import { RPCLink } from '@orpc/client/message-port'
import type { ContractRouterClient } from '@orpc/contract'
import { RPCHandler } from '@orpc/server/message-port'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { secretAccount } from '../../src/main/core/profiles'
import { createRouter } from '../../src/main/core/router'
import { AnalystDirectory } from '../../src/main/security/analysts'
import { migrateToLatest } from '../../src/main/store/migrate'
import { openPostgresStore, type Store } from '../../src/main/store/store'
import type { AppStatus, Contract } from '../../src/shared/contract'
import { ACCOUNT_DISABLED_MESSAGE } from '../../src/shared/session-contract'
import { SHARED_REDIS_URL } from '../support/services'
import { startPrivatePostgres, type PrivatePostgres } from '../support/private-servers'
import { openTestWorkstation, type TestWorkstation } from '../support/workstation'
import { attempt, failsWith } from './support/attempts'
import { openTeamDatabase, urlAs, type TeamDatabase } from './support/team-database'

/** A workstation of its own (user-data folder, keychain service) driven through the contract. */
async function openWorkstation() {
  const opened = await openTestWorkstation()
  await opened.workstation.start()
  const { port1, port2 } = new MessageChannel()
  new RPCHandler(createRouter(opened.workstation)).upgrade(port2)
  port2.start()
  const client: ContractRouterClient<Contract> = createORPCClient(new RPCLink({ port: port1 }))
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
type OpenedWorkstation = TestWorkstation & { client: ContractRouterClient<Contract> }

/** A Team profile whose PostgreSQL user is the analyst (no password saved yet). */
const teamProfile = (workstation: OpenedWorkstation, name: string, postgresUrl: string) =>
  workstation.client.profiles.create({ name, postgresUrl, redisUrl: SHARED_REDIS_URL })

/** Waits, without a timer, for the workstation to publish a status that passes the test. */
async function statusWhere(workstation: OpenedWorkstation, test: (status: AppStatus) => boolean) {
  const abort = new AbortController()
  try {
    for await (const status of workstation.workstation.watchStatus(abort.signal))
      if (test(status)) return status
  } finally {
    abort.abort()
  }
  throw new Error('the status stream ended')
}

describe('sessions on the shared PostgreSQL', () => {
  let team: TeamDatabase
  let analystDesk: OpenedWorkstation
  let adminDesk: OpenedWorkstation
  let adminStore: Store

  beforeAll(async () => {
    team = await openTeamDatabase()
    analystDesk = await openWorkstation()
    adminDesk = await openWorkstation()
    adminStore = openPostgresStore({ connectionString: urlAs(team.database.url, team.logins.admin), max: 1 })
  })

  afterAll(async () => {
    await analystDesk?.dispose()
    await adminDesk?.dispose()
    await adminStore?.close()
    await team?.dispose()
  })

  it('signs an analyst in: the password goes to the keychain, the profile becomes active, whoami comes from the database', async () => {
    const profile = await teamProfile(analystDesk, 'Team desk', urlAs(team.database.url, team.logins.analyst))
    const password = randomBytes(12).toString('hex')
    const session = await analystDesk.client.session.signIn({ profileId: profile.id, password })
    expect(session).toMatchObject({
      mode: 'team',
      profileId: profile.id,
      login: team.logins.analyst,
      role: 'analyst',
      canAdminister: false,
      canAssignOthers: false,
    })
    expect(await analystDesk.secrets.get(secretAccount(profile.id, 'postgres'))).toBe(password)
    expect(analystDesk.workstation.status()).toMatchObject({ state: 'ready', mode: 'team' })
  })

  it('tells a supervisor’s desk it assigns cases to colleagues but administers nothing', async () => {
    const desk = await openWorkstation()
    try {
      const profile = await teamProfile(
        desk,
        'Supervisor desk',
        urlAs(team.database.url, team.logins.supervisor),
      )
      const session = await desk.client.session.signIn({ profileId: profile.id, password: 'any' })
      expect(session).toMatchObject({
        login: team.logins.supervisor,
        role: 'supervisor',
        canAdminister: false,
        canAssignOthers: true,
      })
    } finally {
      await desk.dispose()
    }
  })

  it('refuses administration to an analyst through the app as well', async () => {
    await attempt("an analyst adds an analyst through the workstation's contract", () =>
      failsWith(['FORBIDDEN'], () =>
        analystDesk.client.session.analysts.add({
          login: 'sec_never_added',
          displayName: 'Never',
          role: 'admin',
          password: 'a long enough password',
        }),
      ),
    )
  })

  it('lets an admin list, add and re-role analysts from the app', async () => {
    const profile = await teamProfile(adminDesk, 'Admin desk', urlAs(team.database.url, team.logins.admin))
    const session = await adminDesk.client.session.signIn({ profileId: profile.id, password: 'admin-secret' })
    expect(session).toMatchObject({
      login: team.logins.admin,
      role: 'admin',
      canAdminister: true,
      canAssignOthers: true,
    })
    const login = team.track(`sec_new_${randomBytes(4).toString('hex')}`)
    const added = await adminDesk.client.session.analysts.add({
      login,
      displayName: 'New analyst',
      role: 'analyst',
      password: 'a long enough password',
    })
    expect(added).toMatchObject({ login, role: 'analyst', disabledAt: null })
    expect((await adminDesk.client.session.analysts.setRole({ login, role: 'supervisor' })).role).toBe(
      'supervisor',
    )
    const listed = await adminDesk.client.session.analysts.list()
    expect(listed.map((analyst) => analyst.login)).toEqual(expect.arrayContaining([login, team.logins.admin]))
    const duplicate = await adminDesk.client.session.analysts
      .add({ login, displayName: 'Again', role: 'analyst', password: 'a long enough password' })
      .catch((error: unknown) => error)
    expect((duplicate as ORPCError<string, unknown>).code).toBe('CONFLICT')
  })

  it('tells a disabled analyst why their workstation stopped, at once, without crashing', async () => {
    const status = statusWhere(analystDesk, (each) => each.state === 'error')
    await new AnalystDirectory(adminStore.db).disable(team.logins.analyst)
    await attempt("a disabled analyst's workstation keeps its session", async () => {
      const ended = await status
      return ended.message === ACCOUNT_DISABLED_MESSAGE
        ? { refused: true, detail: `the status says: ${ended.message}` }
        : { refused: false, detail: `the status says: ${ended.message}` }
    })
    const report = await analystDesk.client.profiles.test({ id: analystDesk.workstation.status().profileId })
    // Disabled in this database only: from outside, "Test connection" cannot tell it from never added.
    expect(report.checks.find((check) => check.service === 'postgres')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/disabled there by an administrator/),
    })
    await new AnalystDirectory(adminStore.db).enable(team.logins.analyst)
  })

  it('signs out: the keychain forgets the password and the app returns to Local', async () => {
    const profileId = analystDesk.workstation.status().profileId
    const session = await analystDesk.client.session.signOut({})
    expect(session).toMatchObject({ mode: 'local', login: null })
    expect(await analystDesk.secrets.get(secretAccount(profileId, 'postgres'))).toBeNull()
    const profiles = await analystDesk.client.profiles.list()
    expect(profiles.profiles.find((profile) => profile.id === profileId)).toMatchObject({
      hasPostgresPassword: false,
    })
  })
})

describe('passwords on a PostgreSQL that checks them (scram-sha-256)', () => {
  let server: PrivatePostgres
  let desk: OpenedWorkstation
  let analystUrl: string
  const password = 'the analyst’s own passphrase'

  beforeAll(async () => {
    server = await startPrivatePostgres({ password: randomBytes(12).toString('hex') })
    const owner = openPostgresStore({ connectionString: server.url, password: server.password, max: 1 })
    try {
      await migrateToLatest(owner)
      await new AnalystDirectory(owner.db).add({
        login: 'dana',
        displayName: 'Dana',
        role: 'analyst',
        password,
      })
    } finally {
      await owner.close()
    }
    analystUrl = urlAs(server.url, 'dana')
    desk = await openWorkstation()
  })

  afterAll(async () => {
    await desk?.dispose()
    await server?.stop()
  })

  it('refuses a wrong password and keeps nothing, then signs in with the right one', async () => {
    const profile = await teamProfile(desk, 'Scram desk', analystUrl)
    await attempt('signing in with a wrong password', () =>
      failsWith(['FORBIDDEN'], () =>
        desk.client.session.signIn({ profileId: profile.id, password: 'not the password' }),
      ),
    )
    expect(await desk.secrets.get(secretAccount(profile.id, 'postgres'))).toBeNull()
    expect(desk.workstation.status().mode).toBe('local')
    const session = await desk.client.session.signIn({ profileId: profile.id, password })
    expect(session).toMatchObject({ mode: 'team', login: 'dana', role: 'analyst' })
  })
})
