import { eventIterator } from '@orpc/contract'
import { z } from 'zod'
import { base } from './errors'

/**
 * The Decision API as the workstation shows it: the API keys admins create and revoke (Settings), and the
 * gateways that reported in lately (Dashboard). Served under `apiKeys` and `gateways` in the app contract.
 * PostgreSQL decides who may manage keys (migration 0008); this contract only carries the calls.
 */

export const API_KEY_SCOPES = ['submit', 'read'] as const
export const ApiKeyScope = z.enum(API_KEY_SCOPES)
export type ApiKeyScope = z.infer<typeof ApiKeyScope>

/** The same rule as the api_keys table's CHECK, in words an admin can follow. */
export const ApiKeyName = z
  .string()
  .trim()
  .min(1, 'Give the key a name, such as the system that will use it')
  .max(63, 'A key name has at most 63 characters')
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]*$/,
    'A key name is letters, digits, _ . or -, starting with a letter or digit (no spaces)',
  )

export const ApiKey = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.string()),
  /** The login that created it. */
  createdBy: z.string(),
  createdAt: z.string(),
  /** ISO instant, or null while the key works. */
  revokedAt: z.string().nullable(),
  /** When a gateway last accepted it (written every few seconds), or null if never. */
  lastUsedAt: z.string().nullable(),
})
export type ApiKey = z.infer<typeof ApiKey>

export const CreateApiKeyInput = z.object({
  name: ApiKeyName,
  scopes: z
    .array(ApiKeyScope)
    .min(1, 'Choose what the key may do: send transactions, read decisions, or both')
    .max(API_KEY_SCOPES.length),
})
export type CreateApiKeyInput = z.infer<typeof CreateApiKeyInput>

export const CreatedApiKey = z.object({
  apiKey: ApiKey,
  /** The key itself, shown once: only its hash is stored, so it can never be shown again. */
  secret: z.string(),
})
export type CreatedApiKey = z.infer<typeof CreatedApiKey>

export const apiKeysContract = {
  /** Every key of the team database, live ones first; admins only. */
  list: base.output(z.array(ApiKey)),
  create: base.input(CreateApiKeyInput).output(CreatedApiKey),
  /** Refused on every gateway within a second. */
  revoke: base
    .input(
      z.object({
        id: z
          .string()
          .max(18)
          .regex(/^[1-9]\d{0,17}$/),
      }),
    )
    .output(ApiKey),
}

const rate = z.number().min(0)

export const GatewayReport = z.object({
  id: z.string(),
  url: z.string(),
  startedAt: z.string(),
  /** When it last reported. */
  seenAt: z.string(),
  /** Reported within the last few seconds. */
  alive: z.boolean(),
  requestsPerSecond: rate,
  /** Decision latency's 99th percentile over its recent requests; null before any. */
  p99Ms: z.number().min(0).nullable(),
  /** Share of decisions answered final within the budget, 0 to 100; null before any. */
  finalPct: z.number().min(0).max(100).nullable(),
  /** Refused or failed requests by API key name, most first. */
  errorsByKey: z.array(z.object({ key: z.string(), errors: z.number().int().min(0) })),
})
export type GatewayReport = z.infer<typeof GatewayReport>

export const GatewaysView = z.object({
  mode: z.enum(['local', 'team']),
  /** Gateways that reported in the last minute, alive ones first. */
  gateways: z.array(GatewayReport),
  /** Why the list may be incomplete (Redis unreachable), in words. */
  message: z.string().optional(),
  updatedAt: z.string(),
})
export type GatewaysView = z.infer<typeof GatewaysView>

export const gatewaysContract = {
  list: base.output(GatewaysView),
  /** The list now, then each time it changes (checked about every two seconds). */
  watch: base.output(eventIterator(GatewaysView)),
}
