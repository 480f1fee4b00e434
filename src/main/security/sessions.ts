import { sql } from 'kysely'
import type { AppStatus } from '../../shared/contract'
import {
  LOCAL_PROFILE_ID,
  type ConnectionReport,
  type Profile,
  type TeamProfile,
  type TeamProfileDraft,
} from '../../shared/profile'
import type { AnalystRole, Session } from '../../shared/session-contract'
import { Refusal, ServiceUnavailableError } from '../errors'
import type { StoreScope } from '../store/scope'
import { AnalystAdminError, AnalystDirectory } from './analysts'

export class SignInError extends Refusal {
  constructor(message: string) {
    super('FORBIDDEN', message)
    this.name = 'SignInError'
  }
}

/** What sessions need of the app: the active store and status, and the profiles to sign in and out of. */
export interface SessionScope extends StoreScope {
  status(): AppStatus
  profiles: {
    get(id: string): Promise<Profile>
    update(id: string, draft: TeamProfileDraft): Promise<TeamProfile>
  }
  testDraft(draft: TeamProfileDraft, existingId?: string): Promise<ConnectionReport>
  activate(id: string): Promise<AppStatus>
}

interface WhoamiRow {
  login: string
  display_name: string | null
  role: AnalystRole | null
  can_administer: boolean
  can_assign_others: boolean
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
  constructor(private readonly app: SessionScope) {}

  async whoami(): Promise<Session> {
    const status = this.app.status()
    const base = { mode: status.mode, profileId: status.profileId, profileName: status.profileName }
    if (status.mode === 'local' || status.state !== 'ready')
      return {
        ...base,
        login: null,
        displayName: null,
        role: null,
        canAdminister: false,
        canAssignOthers: false,
      }
    const { rows } = await sql<WhoamiRow>`
      SELECT session_user AS login, a.display_name, a.role,
             has_function_privilege('aether_add_analyst(text, text, text, text)', 'EXECUTE') AS can_administer,
             -- Row security lets analysts keep cases only for themselves (cases_analyst_triage): a member of
             -- the supervisor group, or a login row security does not bind (the owner), assigns anyone.
             pg_has_role(session_user, aether_team_role('supervisor'), 'MEMBER')
               OR NOT row_security_active('public.cases') AS can_assign_others
        FROM (SELECT 1) AS one
        LEFT JOIN analysts a ON a.login = session_user AND a.disabled_at IS NULL`
      .execute(this.app.requireStore().db)
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
      canAssignOthers: row?.can_assign_others ?? false,
    }
  }

  /** Nothing is kept unless the database accepts the password; then the profile becomes the active one. */
  async signIn(profileId: string, password: string): Promise<Session> {
    const profile = await this.teamProfile(profileId)
    const draft = draftOf(profile, password)
    const report = await this.app.testDraft(draft, profile.id)
    if (!report.ok)
      throw new SignInError(
        report.checks
          .filter((check) => !check.ok)
          .map((check) => check.message)
          .join(' '),
      )
    await this.app.profiles.update(profile.id, draft)
    await this.app.activate(profile.id)
    return this.whoami()
  }

  /** Returns to Local first, so no connection outlives the forgotten password. */
  async signOut(profileId?: string): Promise<Session> {
    const target = profileId ?? this.app.status().profileId
    if (target === LOCAL_PROFILE_ID) return this.whoami()
    const profile = await this.teamProfile(target)
    if (this.app.status().profileId === profile.id) await this.app.activate(LOCAL_PROFILE_ID)
    await this.app.profiles.update(profile.id, draftOf(profile, ''))
    return this.whoami()
  }

  /** Administration runs on the signed-in analyst's own connection: the database decides. */
  analysts(): AnalystDirectory {
    const status = this.app.status()
    if (status.mode !== 'team')
      throw new AnalystAdminError(
        'forbidden',
        'Analysts are managed on a team database: switch to a Team profile.',
      )
    if (status.state !== 'ready')
      throw new ServiceUnavailableError(status.message ?? 'The team database is not connected.')
    return new AnalystDirectory(this.app.requireStore().db)
  }

  private async teamProfile(id: string): Promise<TeamProfile> {
    const profile = await this.app.profiles.get(id)
    if (profile.kind !== 'team') throw new SignInError('The Local profile has no sign-in.')
    return profile
  }
}
