import { readFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { secretAccount } from '../../src/main/core/profiles'
import { TeamProfileDraft } from '../../src/shared/profile'
import { migrateToLatest } from '../../src/main/store/migrate'
import { openPostgresStore } from '../../src/main/store/store'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'
import { openTestWorkstation, type TestWorkstation } from '../support/workstation'

/** These run against the real OS keychain (npm test starts a D-Bus session with gnome-keyring). */

let opened: TestWorkstation
let database: TestDatabase

beforeAll(async () => {
  database = await createTestDatabase()
  const store = openPostgresStore({ connectionString: database.url })
  await migrateToLatest(store)
  await store.close()
  opened = await openTestWorkstation()
  await opened.workstation.start()
})

afterAll(async () => {
  await opened.dispose()
  await database.drop()
})

const teamUrlWithPassword = () => {
  const url = new URL(database.url)
  url.password = 'url-secret-3141'
  return url.toString()
}

describe('connection profiles', () => {
  it('starts in Local mode on the embedded store', () => {
    expect(opened.workstation.status()).toMatchObject({
      state: 'ready',
      mode: 'local',
      profileName: 'Local',
      store: { engine: 'pglite' },
    })
  })

  it('keeps passwords in the keychain and never in the profile file', async () => {
    const profile = await opened.workstation.profiles.create({
      name: 'Team',
      postgresUrl: teamUrlWithPassword(),
      redisUrl: 'redis://:redis-secret-2718@127.0.0.1:6379/0',
    })
    expect(profile).toMatchObject({ hasPostgresPassword: true, hasRedisPassword: true })
    const file = await readFile(join(opened.dataDir, 'profiles.json'), 'utf8')
    expect(file).toContain(new URL(database.url).pathname)
    expect(file).not.toContain('url-secret-3141')
    expect(file).not.toContain('redis-secret-2718')
    expect(await opened.secrets.get(secretAccount(profile.id, 'postgres'))).toBe('url-secret-3141')
    expect(await opened.secrets.get(secretAccount(profile.id, 'redis'))).toBe('redis-secret-2718')
  })

  it('replaces, keeps or removes a password as the form says', async () => {
    const { profiles } = await opened.workstation.profiles.list()
    const team = profiles.find((profile) => profile.name === 'Team')
    if (team?.kind !== 'team') throw new Error('the Team profile is missing')
    const draft = { name: 'Team', postgresUrl: database.url, redisUrl: SHARED_REDIS_URL }
    await opened.workstation.profiles.update(team.id, { ...draft, postgresPassword: 'typed-secret-1618' })
    expect(await opened.secrets.get(secretAccount(team.id, 'postgres'))).toBe('typed-secret-1618')
    const kept = await opened.workstation.profiles.update(team.id, draft)
    expect(kept.hasPostgresPassword).toBe(true)
    const removed = await opened.workstation.profiles.update(team.id, {
      ...draft,
      postgresPassword: '',
      redisPassword: '',
    })
    expect(removed).toMatchObject({ hasPostgresPassword: false, hasRedisPassword: false })
    expect(await opened.secrets.get(secretAccount(team.id, 'postgres'))).toBeNull()
    const file = await readFile(join(opened.dataDir, 'profiles.json'), 'utf8')
    expect(file).not.toContain('typed-secret-1618')
  })

  it('refuses a second profile with the same name', async () => {
    await expect(
      opened.workstation.profiles.create({
        name: 'team',
        postgresUrl: database.url,
        redisUrl: SHARED_REDIS_URL,
      }),
    ).rejects.toThrow(/already exists/)
  })

  it('tests, switches to and leaves a team profile', async () => {
    const { profiles } = await opened.workstation.profiles.list()
    const team = profiles.find((profile) => profile.name === 'Team')
    if (team === undefined) throw new Error('the Team profile is missing')
    const report = await opened.workstation.testProfile(team.id)
    expect(report.checks.map((check) => [check.service, check.ok])).toEqual([
      ['postgres', true],
      ['redis', true],
    ])
    const status = await opened.workstation.activate(team.id)
    expect(status).toMatchObject({
      state: 'ready',
      mode: 'team',
      profileName: 'Team',
      store: { engine: 'postgresql' },
    })
    expect((await opened.workstation.profiles.list()).activeId).toBe(team.id)

    const after = await opened.workstation.removeProfile(team.id)
    expect(after.activeId).toBe('local')
    expect(opened.workstation.status()).toMatchObject({ mode: 'local', state: 'ready' })
    expect(await opened.secrets.get(secretAccount(team.id, 'redis'))).toBeNull()
  })

  it('will not switch to a profile whose server cannot be reached, and stays where it was', async () => {
    const broken = await opened.workstation.profiles.create({
      name: 'Unreachable',
      postgresUrl: 'postgres://postgres@127.0.0.1:1/test',
      redisUrl: SHARED_REDIS_URL,
    })
    await expect(opened.workstation.activate(broken.id)).rejects.toThrow(
      /Cannot reach PostgreSQL at 127.0.0.1:1/,
    )
    expect(opened.workstation.status()).toMatchObject({ mode: 'local', state: 'ready' })
  })

  it('sends a saved password only to the server it was saved for, and forgets it when the server changes', async () => {
    const profile = await opened.workstation.profiles.create({
      name: 'Moved',
      postgresUrl: teamUrlWithPassword(),
      redisUrl: 'redis://:redis-secret-5772@127.0.0.1:6379/0',
    })
    // Whatever connects to this listener says what it was sent, and is hung up on.
    let heard = ''
    const listener = createServer((socket) =>
      socket.on('data', (data) => {
        heard += data.toString()
        socket.destroy()
      }),
    )
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
    const port = (listener.address() as AddressInfo).port
    try {
      const elsewhere = new URL(database.url)
      elsewhere.host = `127.0.0.1:${port}`
      const moved = {
        name: 'Moved',
        postgresUrl: elsewhere.toString(),
        redisUrl: `redis://127.0.0.1:${port}/0`,
      }
      const report = await opened.workstation.testDraft(moved, profile.id)
      expect(report.checks.every((check) => !check.ok)).toBe(true)
      expect(heard).not.toContain('redis-secret-5772')
      const credentials = await opened.workstation.profiles.draftCredentials(moved, profile.id)
      expect(credentials).toMatchObject({ postgresPassword: undefined, redisPassword: undefined })
      // Another database or Redis db on the same server keeps it.
      const otherDatabase = new URL(database.url)
      otherDatabase.pathname = '/another'
      const same = await opened.workstation.profiles.draftCredentials(
        { name: 'Moved', postgresUrl: otherDatabase.toString(), redisUrl: 'redis://127.0.0.1:6379/3' },
        profile.id,
      )
      expect(same).toMatchObject({ postgresPassword: 'url-secret-3141', redisPassword: 'redis-secret-5772' })

      const saved = await opened.workstation.profiles.update(profile.id, moved)
      expect(saved).toMatchObject({ hasPostgresPassword: false, hasRedisPassword: false })
      expect(await opened.secrets.get(secretAccount(profile.id, 'postgres'))).toBeNull()
      expect(await opened.secrets.get(secretAccount(profile.id, 'redis'))).toBeNull()
      expect(await opened.workstation.profiles.credentials(saved)).toMatchObject({
        postgresPassword: undefined,
        redisPassword: undefined,
      })
    } finally {
      listener.close()
      await opened.workstation.removeProfile(profile.id)
    }
  })

  it('says a server that takes the connection and never answers did not answer, in seconds', async () => {
    const silent = createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as AddressInfo).port
    try {
      const url = new URL(database.url)
      url.host = `127.0.0.1:${port}`
      const report = await opened.workstation.testDraft({
        name: 'Silent',
        postgresUrl: url.toString(),
        redisUrl: `redis://127.0.0.1:${port}/0`,
      })
      expect(report.checks.map((check) => [check.service, check.ok, check.problem])).toEqual([
        ['postgres', false, 'timeout'],
        ['redis', false, 'timeout'],
      ])
    } finally {
      silent.close()
    }
  })

  it('keeps a password given as a URL parameter in the keychain, and refuses other secrets in a URL', async () => {
    const url = new URL(database.url)
    url.searchParams.set('password', 'query-secret-1414')
    const profile = await opened.workstation.profiles.create({
      name: 'Query',
      postgresUrl: url.toString(),
      redisUrl: `${SHARED_REDIS_URL}?password=redis-query-1732`,
    })
    try {
      expect(profile).toMatchObject({ hasPostgresPassword: true, hasRedisPassword: true })
      expect(profile.postgresUrl).not.toContain('password')
      const file = await readFile(join(opened.dataDir, 'profiles.json'), 'utf8')
      expect(file).not.toContain('query-secret-1414')
      expect(file).not.toContain('redis-query-1732')
      expect(await opened.secrets.get(secretAccount(profile.id, 'postgres'))).toBe('query-secret-1414')
    } finally {
      await opened.workstation.removeProfile(profile.id)
    }
    const refused = TeamProfileDraft.safeParse({
      name: 'Secret',
      postgresUrl: `${database.url}?sslpassword=key-secret`,
      redisUrl: `${SHARED_REDIS_URL}?sentinelPassword=x`,
    })
    expect(refused.success).toBe(false)
    expect(refused.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      ['postgresUrl', 'Put the password in the password field, not in a parameter of the URL'],
      ['redisUrl', 'Put the password in the password field, not in a parameter of the URL'],
    ])
  })

  it('deletes a profile asked for while switching to it after the switch, back on Local', async () => {
    const profile = await opened.workstation.profiles.create({
      name: 'Racing',
      postgresUrl: database.url,
      redisUrl: SHARED_REDIS_URL,
    })
    const [switched, after] = await Promise.all([
      opened.workstation.activate(profile.id),
      opened.workstation.removeProfile(profile.id),
    ])
    expect(switched).toMatchObject({ mode: 'team', profileName: 'Racing' })
    expect(after.profiles.map((candidate) => candidate.id)).not.toContain(profile.id)
    expect(after.activeId).toBe('local')
    expect(opened.workstation.status()).toMatchObject({
      state: 'ready',
      mode: 'local',
      store: { engine: 'pglite' },
    })
  })

  it('refuses to delete the Local profile', async () => {
    await expect(opened.workstation.removeProfile('local')).rejects.toThrow(/cannot be deleted/)
  })
})
