import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { sql, type QueryExecutorProvider } from 'kysely'
import { API_KEYS_CHANNEL } from '../store/migrations/0008_api_keys'
import type { Store } from '../store/store'

/**
 * API keys of the Decision API (migration 0008): `aek_<id>_<secret>`, the secret 32 random bytes in
 * base64url. The store keeps only SHA-256(secret); the id finds the row, so checking a key is one
 * primary-key read and a constant-time comparison.
 */

export const API_KEY_SCOPES = ['submit', 'read'] as const
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number]

const KEY_PATTERN = /^aek_([1-9]\d{0,17})_([A-Za-z0-9_-]{43})$/

const sha256 = (text: string) => createHash('sha256').update(text).digest()

export interface NewApiKey {
  id: string
  name: string
  scopes: ApiKeyScope[]
  /** The key itself: shown once, never stored. */
  key: string
}

export interface ApiKeyListing {
  id: string
  name: string
  scopes: string[]
  createdBy: string
  createdAt: string
  revokedAt: string | null
  lastUsedAt: string | null
}

const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString())

/** Admin operations, on the admin's own connection: PostgreSQL decides who may. */
export class ApiKeyAdmin {
  constructor(private readonly db: QueryExecutorProvider) {}

  async add(name: string, scopes: readonly ApiKeyScope[]): Promise<NewApiKey> {
    const secret = randomBytes(32).toString('base64url')
    const { rows } = await sql<{ id: string; name: string; scopes: ApiKeyScope[] }>`
      SELECT id::text, name, scopes FROM aether_add_api_key(${name}, ${[...scopes]}::text[], ${sha256(secret)})`.execute(
      this.db,
    )
    const row = rows[0]
    if (row === undefined) throw new Error('The store created no key')
    return { id: row.id, name: row.name, scopes: row.scopes, key: `aek_${row.id}_${secret}` }
  }

  async revoke(name: string): Promise<{ id: string; name: string; revokedAt: string }> {
    const { rows } = await sql<{ id: string; name: string; revoked_at: Date }>`
      SELECT id::text, name, revoked_at FROM aether_revoke_api_key(${name})`.execute(this.db)
    const row = rows[0]
    if (row === undefined) throw new Error(`There is no live key named "${name}"`)
    return { id: row.id, name: row.name, revokedAt: new Date(row.revoked_at).toISOString() }
  }

  async list(): Promise<ApiKeyListing[]> {
    const { rows } = await sql<{
      id: string
      name: string
      scopes: string[]
      created_by: string
      created_at: Date
      revoked_at: Date | null
      last_used_at: Date | null
    }>`SELECT id::text, name, scopes, created_by, created_at, revoked_at, last_used_at FROM aether_list_api_keys()`.execute(
      this.db,
    )
    return rows.map((row) => ({
      id: row.id,
      name: row.name,
      scopes: row.scopes,
      createdBy: row.created_by,
      createdAt: iso(row.created_at) as string,
      revokedAt: iso(row.revoked_at),
      lastUsedAt: iso(row.last_used_at),
    }))
  }
}

/** A key that passed the check: who it is and what it may do. */
export interface ApiKeyIdentity {
  id: string
  name: string
  scopes: ReadonlySet<string>
}

interface Cached {
  /** undefined: no live key has this id. */
  row: { name: string; hash: Buffer; scopes: string[] } | undefined
  at: number
}

/** The most key rows a gateway caches, known and unknown ids together. */
export const MAX_CACHED_KEYS = 10_000

/**
 * The gateway's side: checks presented keys against the store. A key's row is cached for at most
 * `ttlMs` (and dropped at once when a revocation is announced), so a revoked key is refused within that
 * time on every gateway even if the announcement is lost. Last use is written at most every few seconds.
 */
export class ApiKeyVerifier {
  private readonly cache = new Map<string, Cached>()
  private readonly loading = new Map<string, Promise<Cached>>()
  private readonly used = new Set<string>()
  private flushTimer: NodeJS.Timeout | undefined
  private stopListening: (() => Promise<void>) | undefined

  constructor(
    private readonly db: QueryExecutorProvider,
    private readonly ttlMs = 500,
    private readonly usedFlushMs = 5000,
  ) {}

  /** Hears revocations (LISTEN); without it the TTL alone bounds how long a revoked key works. */
  async start(listen?: Store['listen']): Promise<void> {
    if (listen !== undefined)
      this.stopListening = await listen(
        [API_KEYS_CHANNEL],
        (_channel, id) => this.cache.delete(id),
        () => this.cache.clear(),
      )
    this.flushTimer = setInterval(() => void this.flushUsed(), this.usedFlushMs)
    this.flushTimer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.flushTimer)
    await this.stopListening?.()
    await this.flushUsed()
  }

  /** The key's identity, or undefined when it is malformed, unknown, revoked or wrong. */
  async verify(presented: string): Promise<ApiKeyIdentity | undefined> {
    const match = KEY_PATTERN.exec(presented)
    if (match === null) return undefined
    const [, id, secret] = match as unknown as [string, string, string]
    let cached = this.cache.get(id)
    const age = cached === undefined ? Infinity : Date.now() - cached.at
    if (cached === undefined || age > this.ttlMs) cached = await this.load(id)
    // Reloaded ahead, in the background, while the cached row is still good: under steady traffic no
    // request waits for the store (the TTL still bounds how long a revoked key works).
    else if (age > this.ttlMs / 2) void this.load(id).catch(() => {})
    const row = cached.row
    // Compared in constant time; an unknown id is compared too, against a hash nobody has.
    const hash = sha256(secret)
    const equal = timingSafeEqual(hash, row?.hash ?? Buffer.alloc(32))
    if (row === undefined || !equal) return undefined
    this.used.add(id)
    return { id, name: row.name, scopes: new Set(row.scopes) }
  }

  /** Whether the key names an existing key this verifier holds: deciding about it needs no store read. */
  known(presented: string): boolean {
    const id = KEY_PATTERN.exec(presented)?.[1]
    return id !== undefined && this.cache.get(id)?.row !== undefined
  }

  private load(id: string): Promise<Cached> {
    let pending = this.loading.get(id)
    if (pending === undefined) {
      pending = (async () => {
        const at = Date.now()
        const { rows } = await sql<{ name: string; hash: Buffer; scopes: string[] }>`
          SELECT name, hash, scopes FROM api_keys WHERE id = ${id}::bigint AND revoked_at IS NULL`.execute(
          this.db,
        )
        const cached: Cached = { row: rows[0], at }
        this.cache.set(id, cached)
        if (this.cache.size > MAX_CACHED_KEYS) this.prune()
        return cached
      })().finally(() => this.loading.delete(id))
      this.loading.set(id, pending)
    }
    return pending
  }

  /**
   * Keeps the cache bounded: a client sending made-up key ids (each cached as unknown, so the store is
   * not asked again) grew it without end. Unknown ids go first, then rows past their TTL (each would be
   * read again anyway), then the longest cached: made-up ids never push a real key out, which the
   * gateway's budget of invalid keys relies on (a key it knows passes an address's block).
   */
  private prune() {
    const now = Date.now()
    const target = MAX_CACHED_KEYS * 0.9
    for (const [id, cached] of this.cache) if (cached.row === undefined) this.cache.delete(id)
    if (this.cache.size > target)
      for (const [id, cached] of this.cache) if (now - cached.at > this.ttlMs) this.cache.delete(id)
    for (const id of this.cache.keys()) {
      if (this.cache.size <= target) break
      this.cache.delete(id)
    }
  }

  /** Key rows cached now (what a gateway holds in memory for its keys). */
  get cachedKeys(): number {
    return this.cache.size
  }

  private async flushUsed(): Promise<void> {
    if (this.used.size === 0) return
    const ids = [...this.used]
    this.used.clear()
    try {
      await sql`UPDATE api_keys SET last_used_at = now() WHERE id = ANY(${ids}::bigint[])`.execute(this.db)
    } catch {
      // Last use is information only; the next flush tries again with whatever is used by then.
      for (const id of ids) this.used.add(id)
    }
  }
}
