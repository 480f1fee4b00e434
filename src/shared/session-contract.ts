import { z } from 'zod'
import { base } from './errors'

/**
 * Who is signed in, and the administration of analysts. Rights are enforced by PostgreSQL (group
 * roles, grants, row-level security); this contract only reports them and calls the database's own
 * administration functions with the analyst's connection.
 */

export const ACCOUNT_DISABLED_MESSAGE = 'This analyst account was disabled by an administrator'

export const AnalystRole = z.enum(['analyst', 'supervisor', 'admin'])
export type AnalystRole = z.infer<typeof AnalystRole>

/** A PostgreSQL login role of our own: never pg_… (reserved) nor aether_… (our group roles). */
export const AnalystLogin = z
  .string()
  .trim()
  .max(63)
  .regex(
    /^[a-z][a-z0-9_.-]{0,62}$/,
    'A login is 1 to 63 lower-case letters, digits, _ . or -, starting with a letter',
  )
  .refine((login) => !/^(pg_|aether_)/.test(login), 'Logins starting with pg_ or aether_ are reserved')

/** Long enough to resist guessing; the database only ever receives its SCRAM verifier. */
export const AnalystPassword = z
  .string()
  .min(12, 'Use at least 12 characters')
  .max(1024, 'That password is too long (1024 characters at most)')

export const Analyst = z.object({
  login: z.string(),
  displayName: z.string(),
  role: AnalystRole,
  /** Whether their workstation may run a pipeline worker with their login (the database's ingest group). */
  ingests: z.boolean(),
  /** ISO instant, or null while the account is enabled. */
  disabledAt: z.string().nullable(),
  createdAt: z.string(),
})
export type Analyst = z.infer<typeof Analyst>

export const Session = z.object({
  mode: z.enum(['local', 'team']),
  profileId: z.string(),
  profileName: z.string(),
  /** The database user of this session (the analyst's login); null in Local mode. */
  login: z.string().nullable(),
  displayName: z.string().nullable(),
  /** null when the login is not a registered analyst (the schema owner, a worker, Local mode). */
  role: AnalystRole.nullable(),
  /** Whether this session may add, disable and re-role analysts (admins and the schema owner). */
  canAdminister: z.boolean(),
  /**
   * Whether the database lets this session assign cases to colleagues (supervisors, admins, the schema
   * owner); an analyst takes a case or gives it back to the queue.
   */
  canAssignOthers: z.boolean(),
})
export type Session = z.infer<typeof Session>

const profileId = z.string().min(1).max(64)
const login = z.object({ login: AnalystLogin })

export const sessionContract = {
  whoami: base.output(Session),
  /** Checks the password against the team database, keeps it in the OS keychain and switches to the profile. */
  signIn: base.input(z.object({ profileId, password: z.string().min(1).max(1024) })).output(Session),
  /** Forgets the profile's PostgreSQL password (the active profile's when none is named) and returns to Local. */
  signOut: base.input(z.object({ profileId: profileId.optional() })).output(Session),
  analysts: {
    list: base.output(z.array(Analyst)),
    add: base
      .input(
        z.object({
          login: AnalystLogin,
          displayName: z.string().trim().min(1, 'Give the analyst a name').max(120),
          role: AnalystRole,
          /** A new login's first password; none for a login the server already has (it keeps its own). */
          password: AnalystPassword.optional(),
        }),
      )
      .output(Analyst),
    /** Ends the analyst's open sessions at once and refuses new ones. */
    disable: base.input(login).output(Analyst),
    enable: base.input(login).output(Analyst),
    setRole: base.input(login.extend({ role: AnalystRole })).output(Analyst),
    setIngest: base.input(login.extend({ ingests: z.boolean() })).output(Analyst),
  },
}
