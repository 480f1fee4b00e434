/// <reference types="electron-vite/node" />
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import {
  CompiledQuery,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'
import { processEntry, workerEntry } from '../threads/worker-entry'
import type { FromStoreThread, StoreThreadData, ThreadError, ToStoreThread } from './pglite-thread'
import type { Database } from './schema'
import type { Store } from './store'

type Answer = Extract<FromStoreThread, { type: 'done' }>

/** The database's error as the thread saw it: message, code, constraint, detail… as own fields. */
function rebuilt(fields: ThreadError): Error {
  const error = new Error(fields.message)
  Object.assign(error, fields)
  return error
}

const startThread = async (data: StoreThreadData) =>
  new Worker(
    await workerEntry(
      new URL('./pglite-thread.ts', import.meta.url),
      () => import('./pglite-thread?modulePath'),
    ),
    { workerData: data },
  )

/** A new folder's database, created by a child process whose memory goes when it ends. */
async function createInChildProcess(dataDir: string): Promise<void> {
  const { path, execArgv } = await processEntry(
    new URL('./pglite-thread.ts', import.meta.url),
    () => import('./pglite-thread?modulePath'),
  )
  // Electron's own binary runs the script as Node.
  const child = fork(path, [dataDir], {
    execArgv,
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
  const [code] = (await once(child, 'exit')) as [number | null]
  if (code !== 0)
    throw new Error(
      `The embedded store could not be created in ${dataDir}: ${stderr.trim() || `exit code ${code}`}`,
    )
}

/** Waits for the thread's first word: ready, or why PGlite could not open. */
function opened(thread: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromStoreThread) => {
      if (message.type !== 'ready' && message.type !== 'opening-failed') return
      thread.off('exit', onExit)
      thread.off('message', onMessage)
      if (message.type === 'ready') resolve()
      else reject(rebuilt(message.error))
    }
    const onExit = (code: number) =>
      reject(new Error(`The embedded store's thread ended while opening (exit code ${code}).`))
    thread.on('message', onMessage)
    thread.once('exit', onExit)
    thread.once('error', (error) => reject(error))
  })
}

/** The main thread's side of the store thread: one request, one answer, matched by id. */
class StoreThread {
  private nextId = 1
  private readonly pending = new Map<
    number,
    { resolve: (answer: Answer) => void; reject: (error: Error) => void }
  >()
  private readonly listeners = new Map<number, (payload: string) => void>()
  private ended: Error | undefined
  private readonly exited: Promise<void>

  constructor(private readonly thread: Worker) {
    thread.on('message', (message: FromStoreThread) => {
      if (message.type === 'notify') this.listeners.get(message.listener)?.(message.payload)
      else if (message.type === 'done' || message.type === 'failed') {
        const waiting = this.pending.get(message.id)
        this.pending.delete(message.id)
        if (message.type === 'done') waiting?.resolve(message)
        else waiting?.reject(rebuilt(message.error))
      }
    })
    thread.on('error', (error) => this.end(new Error(`The embedded store's thread failed: ${error.message}`)))
    this.exited = new Promise((resolve) =>
      thread.once('exit', (code) => {
        this.end(new Error(`The embedded store is closed (its thread ended with exit code ${code}).`))
        resolve()
      }),
    )
  }

  get closed() {
    return this.ended !== undefined
  }

  private end(reason: Error) {
    this.ended ??= reason
    for (const waiting of this.pending.values()) waiting.reject(reason)
    this.pending.clear()
    this.listeners.clear()
  }

  request(message: DistributiveOmit<ToStoreThread, 'id'>, id = this.nextId++) {
    return new Promise<Answer>((resolve, reject) => {
      if (this.ended !== undefined) return reject(this.ended)
      this.pending.set(id, { resolve, reject })
      this.thread.postMessage({ ...message, id })
    })
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    // The listener is known by its request's id, set before the thread can notify.
    const listener = this.nextId++
    this.listeners.set(listener, onNotify)
    try {
      await this.request({ type: 'listen', channel }, listener)
    } catch (error) {
      this.listeners.delete(listener)
      throw error
    }
    return async () => {
      this.listeners.delete(listener)
      if (!this.closed) await this.request({ type: 'unlisten', listener })
    }
  }

  private closing: Promise<void> | undefined

  /** PGlite closes cleanly (its files consistent) before the thread ends. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.closed) await this.request({ type: 'close' }).catch(() => {})
      await this.thread.terminate()
      await this.exited
    })()
    return this.closing
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

class ThreadConnection implements DatabaseConnection {
  constructor(private readonly thread: StoreThread) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const { rows, affectedRows } = await this.thread.request({
      type: 'query',
      sql: query.sql,
      parameters: query.parameters,
    })
    // As kysely-pglite-dialect returns it: the count only when rows were affected.
    return affectedRows > 0
      ? { rows: rows as R[], numAffectedRows: BigInt(affectedRows) }
      : { rows: rows as R[] }
  }

  async *streamQuery<R>(query: CompiledQuery, chunkSize = 100): AsyncIterableIterator<QueryResult<R>> {
    const { rows } = await this.executeQuery<R>(query)
    for (let start = 0; start < rows.length; start += chunkSize)
      yield { rows: rows.slice(start, start + chunkSize) }
  }
}

/**
 * PGlite is one session: a connection is lent to one user at a time (a transaction keeps it from BEGIN
 * to COMMIT), the others wait in turn, as kysely-pglite-dialect does in process.
 */
class ThreadDriver implements Driver {
  private readonly connection: ThreadConnection
  private lent = false
  private readonly waiting: ((connection: DatabaseConnection) => void)[] = []

  constructor(private readonly thread: StoreThread) {
    this.connection = new ThreadConnection(thread)
  }

  async init() {}

  async acquireConnection(): Promise<DatabaseConnection> {
    if (!this.lent) {
      this.lent = true
      return this.connection
    }
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  async releaseConnection() {
    const next = this.waiting.shift()
    if (next === undefined) this.lent = false
    else next(this.connection)
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    await connection.executeQuery(
      CompiledQuery.raw(
        settings.isolationLevel ? `start transaction isolation level ${settings.isolationLevel}` : 'begin',
      ),
    )
  }

  async commitTransaction(connection: DatabaseConnection) {
    await connection.executeQuery(CompiledQuery.raw('commit'))
  }

  async rollbackTransaction(connection: DatabaseConnection) {
    await connection.executeQuery(CompiledQuery.raw('rollback'))
  }

  destroy() {
    return this.thread.close()
  }
}

class ThreadDialect implements Dialect {
  constructor(private readonly thread: StoreThread) {}
  createAdapter = () => new PostgresAdapter()
  createDriver = () => new ThreadDriver(this.thread)
  createQueryCompiler = () => new PostgresQueryCompiler()
  createIntrospector = (db: Kysely<unknown>) => new PostgresIntrospector(db)
}

/**
 * The embedded store of Local mode on a thread of its own, so its queries (and the sample replay's
 * writes) never hold up the main event loop that serves the UI. A new folder's database is created by a
 * child process first: initdb's memory goes with it.
 */
export async function openThreadStore(dataDir: string | undefined): Promise<Store> {
  if (dataDir !== undefined && !existsSync(join(dataDir, 'PG_VERSION'))) await createInChildProcess(dataDir)
  const worker = await startThread({ dataDir })
  try {
    await opened(worker)
  } catch (error) {
    await worker.terminate()
    throw error
  }
  const thread = new StoreThread(worker)
  const db = new Kysely<Database>({ dialect: new ThreadDialect(thread) })
  return {
    engine: 'pglite',
    db,
    listen: async (channels, onNotify) => {
      const stops = await Promise.all(
        channels.map((channel) => thread.listen(channel, (payload) => onNotify(channel, payload))),
      )
      return async () => {
        await Promise.all(stops.map((stop) => stop()))
      }
    },
    // Kysely destroys a driver only once it has run a query: the thread is closed here either way.
    close: async () => {
      await db.destroy()
      await thread.close()
    },
  }
}
