import { z } from 'zod'

/** The embedded store every install has; it cannot be deleted. */
export const LOCAL_PROFILE_ID = 'local'

const nameField = z
  .string()
  .trim()
  .min(1, 'Give the profile a name')
  .max(60, 'Keep the name under 60 characters')

const postgresUrl = z
  .string()
  .trim()
  .max(2048)
  .refine((value) => {
    try {
      const url = new URL(value)
      return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== ''
    } catch {
      return false
    }
  }, 'Enter a PostgreSQL URL such as postgres://analyst@db.example:5432/aether')

const redisUrl = z
  .string()
  .trim()
  .max(2048)
  .refine((value) => {
    try {
      const url = new URL(value)
      return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== ''
    } catch {
      return false
    }
  }, 'Enter a Redis URL such as redis://redis.example:6379/0')

export const LocalProfile = z.object({
  id: z.literal(LOCAL_PROFILE_ID),
  kind: z.literal('local'),
  name: nameField,
})

/** A team profile as stored on disk: URLs never carry a password (that lives in the OS keychain). */
export const TeamProfile = z.object({
  id: z.string().regex(/^[a-z0-9-]{1,64}$/),
  kind: z.literal('team'),
  name: nameField,
  postgresUrl,
  redisUrl,
  /** Whether a PostgreSQL / Redis password is kept in the keychain for this profile. */
  hasPostgresPassword: z.boolean(),
  hasRedisPassword: z.boolean(),
})

export const Profile = z.discriminatedUnion('kind', [LocalProfile, TeamProfile])
export type Profile = z.infer<typeof Profile>
export type TeamProfile = z.infer<typeof TeamProfile>

const password = z.string().max(1024, 'That password is too long (1024 characters at most)')

/**
 * A URL's parameters may not carry other secrets (`sslpassword`, `sentinelPassword`, …): the drivers read
 * them, and the URL is saved as text. `password` is taken out and kept as the password.
 */
const noSecretParameters = (value: string) => {
  try {
    return [...new URL(value).searchParams.keys()].every(
      (name) => name.toLowerCase() === 'password' || !/pass|secret|token/i.test(name),
    )
  } catch {
    return true
  }
}
const SECRET_PARAMETER = 'Put the password in the password field, not in a parameter of the URL'

/** What the Settings form sends. A password typed in a URL is moved to the keychain, never saved. */
export const TeamProfileDraft = z.object({
  name: nameField,
  postgresUrl: postgresUrl.refine(noSecretParameters, SECRET_PARAMETER),
  redisUrl: redisUrl.refine(noSecretParameters, SECRET_PARAMETER),
  /** undefined: keep the stored one; '': remove it. */
  postgresPassword: password.optional(),
  redisPassword: password.optional(),
})
export type TeamProfileDraft = z.infer<typeof TeamProfileDraft>

export const ProfileList = z.object({
  profiles: z.array(Profile),
  activeId: z.string(),
})
export type ProfileList = z.infer<typeof ProfileList>

/** Why a connection check failed, precise enough for the user to act on. */
export const ConnectionProblem = z.enum([
  'wrong_password',
  'password_required',
  'unknown_user',
  'unknown_database',
  'unreachable',
  'timeout',
  'tls',
  'schema_missing',
  'schema_too_old',
  'schema_too_new',
  'keychain_unavailable',
  'account_disabled',
  'other',
])
export type ConnectionProblem = z.infer<typeof ConnectionProblem>

export const ServiceCheck = z.object({
  service: z.enum(['postgres', 'redis', 'keychain']),
  ok: z.boolean(),
  problem: ConnectionProblem.optional(),
  /** One sentence the user can act on. */
  message: z.string(),
  /** Server version or similar, when reached. */
  detail: z.string().optional(),
  /** Works, but something the user should fix (e.g. a Redis without persistence). */
  warning: z.string().optional(),
  millis: z.number(),
})
export type ServiceCheck = z.infer<typeof ServiceCheck>

export const ConnectionReport = z.object({
  ok: z.boolean(),
  checks: z.array(ServiceCheck),
})
export type ConnectionReport = z.infer<typeof ConnectionReport>
