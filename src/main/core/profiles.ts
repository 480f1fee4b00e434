import { randomUUID } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import {
  LOCAL_PROFILE_ID,
  type Profile,
  type ProfileList,
  TeamProfile,
  type TeamProfileDraft,
} from '../../shared/profile'
import { Refusal } from '../errors'
import type { SecretStore } from '../secrets/keychain'

const LOCAL: Profile = { id: LOCAL_PROFILE_ID, kind: 'local', name: 'Local' }

const ProfilesFile = z.object({
  version: z.literal(1),
  activeId: z.string(),
  profiles: z.array(TeamProfile),
})
type ProfilesFile = z.infer<typeof ProfilesFile>

export class ProfileNotFoundError extends Refusal {
  constructor(id: string) {
    super('NOT_FOUND', `There is no connection profile "${id}".`)
    this.name = 'ProfileNotFoundError'
  }
}

export class ProfileConflictError extends Refusal {
  constructor(message: string) {
    super('CONFLICT', message)
    this.name = 'ProfileConflictError'
  }
}

export class ProfileSecretsKeptError extends Refusal {
  constructor(message: string) {
    super('UNAVAILABLE', message)
    this.name = 'ProfileSecretsKeptError'
  }
}

export const secretAccount = (profileId: string, service: 'postgres' | 'redis') =>
  `profile/${profileId}/${service}`

/**
 * Splits a password typed into a URL away from the URL, so only the keychain ever holds it: the
 * `user:password@` part, and a `?password=` parameter (both drivers read one, over the keychain's).
 */
export function withoutPassword(url: string): { url: string; password: string | undefined } {
  const parsed = new URL(url)
  let password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password)
  for (const name of [...parsed.searchParams.keys()])
    if (name.toLowerCase() === 'password') {
      password ??= nonEmpty(parsed.searchParams.get(name) ?? undefined)
      parsed.searchParams.delete(name)
    }
  parsed.password = ''
  return { url: parsed.toString(), password }
}

const DEFAULT_PORTS: Record<string, string> = {
  'postgres:': '5432',
  'postgresql:': '5432',
  'redis:': '6379',
  'rediss:': '6379',
}

/**
 * Whether a saved password may go to `next` as it went to `saved`: the same scheme (TLS or not), user,
 * host, port and parameters (PostgreSQL's `?host=` names the server too). Only the database may differ.
 * Otherwise a changed URL (in the form, or from anything that can call the profile routes) would be
 * sent the saved password of another server.
 */
export function sameEndpoint(saved: string, next: string): boolean {
  const key = (text: string) => {
    const url = new URL(withoutPassword(text).url)
    url.searchParams.sort()
    return [
      url.protocol === 'postgresql:' ? 'postgres:' : url.protocol,
      decodeURIComponent(url.username),
      url.hostname.toLowerCase(),
      url.port === '' ? (DEFAULT_PORTS[url.protocol] ?? '') : url.port,
      url.searchParams.toString(),
    ].join('\n')
  }
  return key(saved) === key(next)
}

export interface TeamCredentials {
  postgresUrl: string
  postgresPassword: string | undefined
  redisUrl: string
  redisPassword: string | undefined
}

/**
 * Connection profiles, kept in profiles.json in the user-data folder. The file holds names and
 * password-less URLs; passwords go to the OS keychain under the profile's id.
 */
export class ProfileStore {
  private readonly path: string

  constructor(
    dataDir: string,
    private readonly secrets: SecretStore,
  ) {
    this.path = join(dataDir, 'profiles.json')
  }

  private async read(): Promise<ProfilesFile> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        return { version: 1, activeId: LOCAL_PROFILE_ID, profiles: [] }
      throw error
    }
    const parsed = ProfilesFile.safeParse(JSON.parse(text))
    if (!parsed.success)
      throw new Error(`${this.path} is not a valid profiles file: ${parsed.error.issues[0]?.message ?? ''}`)
    return parsed.data
  }

  private async write(file: ProfilesFile): Promise<void> {
    const dir = join(this.path, '..')
    await mkdir(dir, { recursive: true })
    const temporary = `${this.path}.${process.pid}.tmp`
    await writeFile(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 })
    await rename(temporary, this.path)
  }

  async list(): Promise<ProfileList> {
    const file = await this.read()
    const activeId = file.profiles.some((profile) => profile.id === file.activeId)
      ? file.activeId
      : LOCAL_PROFILE_ID
    return { profiles: [LOCAL, ...file.profiles], activeId }
  }

  async get(id: string): Promise<Profile> {
    const { profiles } = await this.list()
    const profile = profiles.find((candidate) => candidate.id === id)
    if (profile === undefined) throw new ProfileNotFoundError(id)
    return profile
  }

  async create(draft: TeamProfileDraft): Promise<TeamProfile> {
    const file = await this.read()
    this.assertUniqueName(file, draft.name)
    const id = randomUUID()
    const profile = await this.storeSecrets(id, draft, undefined)
    await this.write({ ...file, profiles: [...file.profiles, profile] })
    return profile
  }

  async update(id: string, draft: TeamProfileDraft): Promise<TeamProfile> {
    const file = await this.read()
    const existing = file.profiles.find((profile) => profile.id === id)
    if (existing === undefined) throw new ProfileNotFoundError(id)
    this.assertUniqueName(file, draft.name, id)
    const profile = await this.storeSecrets(id, draft, existing)
    await this.write({
      ...file,
      profiles: file.profiles.map((candidate) => (candidate.id === id ? profile : candidate)),
    })
    return profile
  }

  async remove(id: string): Promise<ProfileList> {
    if (id === LOCAL_PROFILE_ID)
      throw new ProfileConflictError('The Local profile is built in and cannot be deleted.')
    const file = await this.read()
    const profile = file.profiles.find((candidate) => candidate.id === id)
    if (profile === undefined) throw new ProfileNotFoundError(id)
    // Only saved passwords are in the keychain: a profile without one is deleted with no keychain at all.
    await this.forgetSecrets(profile)
    await this.write({
      ...file,
      activeId: file.activeId === id ? LOCAL_PROFILE_ID : file.activeId,
      profiles: file.profiles.filter((profile) => profile.id !== id),
    })
    return this.list()
  }

  /** Removes a profile's saved passwords; a keychain that cannot be reached keeps the profile, and says so. */
  private async forgetSecrets(profile: TeamProfile) {
    const saved = [
      ...(profile.hasPostgresPassword ? [{ service: 'postgres' as const, label: 'PostgreSQL' }] : []),
      ...(profile.hasRedisPassword ? [{ service: 'redis' as const, label: 'Redis' }] : []),
    ]
    const kept: string[] = []
    let reason = ''
    for (const { service, label } of saved) {
      try {
        await this.secrets.delete(secretAccount(profile.id, service))
      } catch (error) {
        kept.push(label)
        reason = error instanceof Error ? error.message : String(error)
      }
    }
    if (kept.length > 0)
      throw new ProfileSecretsKeptError(
        `“${profile.name}” was not deleted: its saved ${kept.join(' and ')} password${kept.length > 1 ? 's' : ''} ` +
          `could not be removed from the OS keychain. ${reason}`,
      )
  }

  async setActive(id: string): Promise<void> {
    await this.get(id)
    await this.write({ ...(await this.read()), activeId: id })
  }

  async credentials(profile: TeamProfile): Promise<TeamCredentials> {
    return {
      postgresUrl: profile.postgresUrl,
      postgresPassword: profile.hasPostgresPassword
        ? ((await this.secrets.get(secretAccount(profile.id, 'postgres'))) ?? undefined)
        : undefined,
      redisUrl: profile.redisUrl,
      redisPassword: profile.hasRedisPassword
        ? ((await this.secrets.get(secretAccount(profile.id, 'redis'))) ?? undefined)
        : undefined,
    }
  }

  /** Resolves a draft's credentials without saving anything, for "Test connection" before "Save". */
  async draftCredentials(draft: TeamProfileDraft, existingId?: string): Promise<TeamCredentials> {
    const existing = existingId === undefined ? undefined : await this.get(existingId)
    const stored = existing?.kind === 'team' ? await this.credentials(existing) : undefined
    const postgres = withoutPassword(draft.postgresUrl)
    const redis = withoutPassword(draft.redisUrl)
    // A saved password goes only to the server it was saved for.
    const storedPostgres =
      stored !== undefined && sameEndpoint(stored.postgresUrl, postgres.url)
        ? stored.postgresPassword
        : undefined
    const storedRedis =
      stored !== undefined && sameEndpoint(stored.redisUrl, redis.url) ? stored.redisPassword : undefined
    return {
      postgresUrl: postgres.url,
      postgresPassword: nonEmpty(draft.postgresPassword ?? postgres.password ?? storedPostgres),
      redisUrl: redis.url,
      redisPassword: nonEmpty(draft.redisPassword ?? redis.password ?? storedRedis),
    }
  }

  private assertUniqueName(file: ProfilesFile, name: string, exceptId?: string) {
    const taken =
      name.toLowerCase() === LOCAL.name.toLowerCase() ||
      file.profiles.some(
        (profile) => profile.id !== exceptId && profile.name.toLowerCase() === name.toLowerCase(),
      )
    if (taken) throw new ProfileConflictError(`A profile named "${name}" already exists.`)
  }

  private async storeSecrets(
    id: string,
    draft: TeamProfileDraft,
    existing: TeamProfile | undefined,
  ): Promise<TeamProfile> {
    const postgres = withoutPassword(draft.postgresUrl)
    const redis = withoutPassword(draft.redisUrl)
    // A URL moved to another server (or user) forgets the saved password unless a new one is given.
    const forgetOnMove = (saved: string | undefined, next: string) =>
      saved !== undefined && !sameEndpoint(saved, next) ? '' : undefined
    const hasPostgresPassword = await this.keep(
      secretAccount(id, 'postgres'),
      draft.postgresPassword ?? postgres.password ?? forgetOnMove(existing?.postgresUrl, postgres.url),
      existing?.hasPostgresPassword ?? false,
    )
    const hasRedisPassword = await this.keep(
      secretAccount(id, 'redis'),
      draft.redisPassword ?? redis.password ?? forgetOnMove(existing?.redisUrl, redis.url),
      existing?.hasRedisPassword ?? false,
    )
    return TeamProfile.parse({
      id,
      kind: 'team',
      name: draft.name,
      postgresUrl: postgres.url,
      redisUrl: redis.url,
      hasPostgresPassword,
      hasRedisPassword,
    })
  }

  /** undefined keeps what is stored, '' removes it, anything else replaces it. */
  private async keep(account: string, secret: string | undefined, had: boolean): Promise<boolean> {
    if (secret === undefined) return had
    if (secret === '') {
      if (had) await this.secrets.delete(account)
      return false
    }
    await this.secrets.set(account, secret)
    return true
  }
}

const nonEmpty = (value: string | undefined) => (value === '' ? undefined : value)
