import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { secretAccount } from '../../src/main/core/profiles'
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

  it('refuses to delete the Local profile', async () => {
    await expect(opened.workstation.removeProfile('local')).rejects.toThrow(/cannot be deleted/)
  })
})
