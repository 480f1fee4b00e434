import type { PGlite } from '@electric-sql/pglite'
import { Kysely, PostgresDialect } from 'kysely'
import { PGliteDialect } from 'kysely-pglite-dialect'
import pg from 'pg'
import { INT8_OID, parseInt8 } from './pglite'
import { openThreadStore } from './pglite-thread-store'
import type { Database } from './schema'

export type StoreEngine = 'pglite' | 'postgresql'

export interface Store {
  readonly engine: StoreEngine
  readonly db: Kysely<Database>
  /**
   * LISTENs on channels with a connection of its own (kept up across server restarts) and calls back
   * with each notification's payload, and `onReconnect` once listening again after the connection was
   * lost (what was announced meanwhile is lost); the returned function stops listening. Rejects, and
   * keeps nothing open, when the first connection fails.
   */
  listen(
    channels: readonly string[],
    onNotify: (channel: string, payload: string) => void,
    onReconnect?: () => void,
  ): Promise<() => Promise<void>>
  close(): Promise<void>
}

/**
 * The embedded store of Local mode: PostgreSQL compiled to WebAssembly, kept in a folder (in memory
 * without one), on a thread of its own (pglite-thread-store.ts) and its memory sized to the data.
 */
export const openEmbeddedStore = (dataDir: string | undefined): Promise<Store> => openThreadStore(dataDir)

/** A PGlite on the calling thread as a store: `npm run bench:local`'s reference, the earlier build. */
export function pgliteInPlace(pglite: PGlite): Store {
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) })
  return {
    engine: 'pglite',
    db,
    listen: async (channels, onNotify) => {
      const stops = await Promise.all(
        channels.map((channel) => pglite.listen(channel, (payload) => onNotify(channel, payload))),
      )
      return async () => {
        if (!pglite.closed) await Promise.all(stops.map((stop) => stop()))
      }
    },
    close: async () => {
      await db.destroy()
      if (!pglite.closed) await pglite.close()
    },
  }
}

export interface PostgresOptions {
  connectionString: string
  password?: string
  /** Gives up connecting after this long; a team database far away deserves a few seconds. */
  connectTimeoutMs?: number
  max?: number
  applicationName?: string
  /** PostgreSQL cancels a statement that runs (or waits for a lock) longer: error 57014. */
  statementTimeoutMs?: number
}

/**
 * pg lets the (empty) password of a connection string override a separate `password` option
 * (brianc/node-postgres#3327), so a password kept apart from the URL has to go into it.
 */
export function postgresUrlWithPassword(connectionString: string, password: string | undefined): string {
  if (password === undefined) return connectionString
  const url = new URL(connectionString)
  url.password = encodeURIComponent(password)
  return url.toString()
}

export function postgresPoolConfig(options: PostgresOptions): pg.PoolConfig {
  return {
    connectionString: postgresUrlWithPassword(options.connectionString, options.password),
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    max: options.max ?? 8,
    application_name: options.applicationName ?? 'aether-workstation',
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  }
}

/** The team store: a pool on the shared PostgreSQL. */
export function openPostgresStore(options: PostgresOptions): Store {
  const pool = new pg.Pool(postgresPoolConfig(options))
  // An idle client that loses its server must not crash the process; the next query reports it.
  pool.on('error', () => {})
  // Set on each new connection, first in its queue: as a startup parameter PgBouncer refuses it
  // ("unsupported startup parameter") unless told to ignore it.
  const timeoutMs = options.statementTimeoutMs
  if (timeoutMs !== undefined)
    pool.on('connect', (client) => {
      client.query(`SET statement_timeout = ${Math.round(timeoutMs)}`).catch(() => {})
    })
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  return {
    engine: 'postgresql',
    db,
    listen: (channels, onNotify, onReconnect) =>
      listenPostgres(postgresPoolConfig(options), channels, onNotify, onReconnect),
    close: () => db.destroy(),
  }
}

const RELISTEN_MILLIS = 2000

/** A pooled connection cannot hold a LISTEN, so each listener has a client of its own, reconnected when lost. */
export async function listenPostgres(
  config: pg.ClientConfig,
  channels: readonly string[],
  onNotify: (channel: string, payload: string) => void,
  onReconnect?: () => void,
): Promise<() => Promise<void>> {
  let client: pg.Client | undefined
  let stopped = false
  let retry: NodeJS.Timeout | undefined
  const reconnectLater = () => {
    clearTimeout(retry)
    if (!stopped)
      retry = setTimeout(
        () =>
          void connect().then(
            () => onReconnect?.(),
            () => reconnectLater(),
          ),
        RELISTEN_MILLIS,
      )
  }
  const connect = async () => {
    const next = new pg.Client(config)
    next.on('notification', (message) => onNotify(message.channel, message.payload ?? ''))
    next.on('error', () => {})
    next.on('end', () => {
      if (client === next) reconnectLater()
    })
    client = next
    try {
      await next.connect()
      for (const channel of channels) await next.query(`LISTEN ${pg.escapeIdentifier(channel)}`)
    } catch (error) {
      // Not this client's 'end' but the caller (first try) or the retry loop decides what comes next.
      if (client === next) client = undefined
      await next.end().catch(() => {})
      throw error
    }
  }
  const stop = async () => {
    stopped = true
    clearTimeout(retry)
    await client?.end().catch(() => {})
  }
  try {
    await connect()
  } catch (error) {
    await stop()
    throw error
  }
  return stop
}
