import { sql } from 'kysely'
import { LOCAL_PROFILE_ID, type TeamProfile, type TeamProfileDraft } from '../../shared/profile'
import type { AnalystRole, Session } from '../../shared/session-contract'
import { ServiceUnavailableError, type Workstation } from '../core/workstation'
import { AnalystAdminError, AnalystDirectory } from './analysts'

export class SignInError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SignInError'
  }
}

interface WhoamiRow {
  login: string
  display_name: string | null
  role: AnalystRole | null
  can_administer: boolean
}

const draftOf = (profile: TeamProfile, postgresPassword: string): TeamProfileDraft => ({
  name: profile.name,
  postgresUrl: profile.postgresUrl,
  redisUrl: profile.redisUrl,
  postgresPassword,
})

/**
 * Sessions of a Team profile: the profile's PostgreSQL user is the analyst, and signing in means
 * keeping that user's password in the OS keychain. Identity and rights are read back from the
 * database session itself (session_user, role membership), never asserted by the app.
 */
export class Sessions {
  constructor(private readonly workstation: Workstation) {}

  async whoami(): Promise<Session> {
    const status = this.workstation.status()
    const base = { mode: status.mode, profileId: status.profileId, profileName: status.profileName }
    if (status.mode === 'local' || status.state !== 'ready')
      return { ...base, login: null, displayName: null, role: null, canAdminister: false }
    const { rows } = await sql<WhoamiRow>`
      SELECT session_user AS login, a.display_name, a.role,
             has_function_privilege('aether_add_analyst(text, text, text, text)', 'EXECUTE') AS can_administer
        FROM (SELECT 1) AS one
        LEFT JOIN analysts a ON a.login = session_user AND a.disabled_at IS NULL`
      .execute(this.workstation.requireStore().db)
      .catch((error: unknown) => {
        // A session ended under us (disabled, server restart): the status explains it; this call says so briefly.
        throw new ServiceUnavailableError(
          `The team database did not answer: ${error instanceof Error ? error.message : String(error)}`,
        )
      })
    const row = rows[0]
    return {
      ...base,
      login: row?.login ?? null,
      displayName: row?.display_name ?? null,
      role: row?.role ?? null,
      canAdminister: row?.can_administer ?? false,
    }
  }

  /** Nothing is kept unless the database accepts the password; then the profile becomes the active one. */
  async signIn(profileId: string, password: string): Promise<Session> {
    const profile = await this.teamProfile(profileId)
    const draft = draftOf(profile, password)
    const report = await this.workstation.testDraft(draft, profile.id)
    if (!report.ok)
      throw new SignInError(
        report.checks
          .filter((check) => !check.ok)
          .map((check) => check.message)
          .join(' '),
      )
    await this.workstation.profiles.update(profile.id, draft)
    await this.workstation.activate(profile.id)
    return this.whoami()
  }

  /** Returns to Local first, so no connection outlives the forgotten password. */
  async signOut(profileId?: string): Promise<Session> {
    const target = profileId ?? this.workstation.status().profileId
    if (target === LOCAL_PROFILE_ID) return this.whoami()
    const profile = await this.teamProfile(target)
    if (this.workstation.status().profileId === profile.id) await this.workstation.activate(LOCAL_PROFILE_ID)
    await this.workstation.profiles.update(profile.id, draftOf(profile, ''))
    return this.whoami()
  }

  /** Administration runs on the signed-in analyst's own connection: the database decides. */
  analysts(): AnalystDirectory {
    const status = this.workstation.status()
    if (status.mode !== 'team')
      throw new AnalystAdminError(
        'forbidden',
        'Analysts are managed on a team database: switch to a Team profile.',
      )
    if (status.state !== 'ready')
      throw new ServiceUnavailableError(status.message ?? 'The team database is not connected.')
    return new AnalystDirectory(this.workstation.requireStore().db)
  }

  private async teamProfile(id: string): Promise<TeamProfile> {
    const profile = await this.workstation.profiles.get(id)
    if (profile.kind !== 'team') throw new SignInError('The Local profile has no sign-in.')
    return profile
  }
}
