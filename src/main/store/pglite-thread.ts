import { parentPort, workerData } from 'node:worker_threads'
import { openPGlite } from './pglite'

/**
 * The embedded store's thread: it owns PGlite, whose queries run synchronously in WebAssembly, and
 * answers the main thread's queries one message each (pglite-thread-store.ts is the other side, and
 * ends the thread once PGlite has closed).
 */

export interface StoreThreadData {
  dataDir: string | undefined
}

/** A database error as plain fields (code, constraint, detail…): an Error's own fields do not cross threads. */
export type ThreadError = { message: string; name: string; stack?: string } & Record<
  string,
  string | number | boolean
>

export type ToStoreThread =
  | { type: 'query'; id: number; sql: string; parameters: readonly unknown[] }
  | { type: 'listen'; id: number; channel: string }
  | { type: 'unlisten'; id: number; listener: number }
  | { type: 'close'; id: number }

export type FromStoreThread =
  | { type: 'ready' }
  | { type: 'opening-failed'; error: ThreadError }
  | { type: 'done'; id: number; rows: unknown[]; affectedRows: number }
  | { type: 'failed'; id: number; error: ThreadError }
  | { type: 'notify'; listener: number; payload: string }

function threadError(error: unknown): ThreadError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) }
  const fields: ThreadError = { name: error.name, message: error.message }
  if (error.stack !== undefined) fields.stack = error.stack
  for (const [key, value] of Object.entries(error))
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      fields[key] = value
  return fields
}

const port = parentPort
const post = (message: FromStoreThread) => port?.postMessage(message)

if (port === null) {
  // Run as a child process (openThreadStore on a new folder): create the database and end. PostgreSQL's
  // initdb peaks at several hundred MB that a thread keeps after it ends (the allocator holds on to it).
  try {
    await (await openPGlite(process.argv[2])).close()
  } catch (error) {
    // One line for the parent's message, not a stack.
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    process.exitCode = 1
  }
} else {
  const { dataDir } = workerData as StoreThreadData
  try {
    const pglite = await openPGlite(dataDir)
    const stops = new Map<number, () => Promise<void>>()
    const answer = async (id: number, run: () => Promise<{ rows: unknown[]; affectedRows: number }>) => {
      try {
        post({ type: 'done', id, ...(await run()) })
      } catch (error) {
        post({ type: 'failed', id, error: threadError(error) })
      }
    }
    const none = { rows: [], affectedRows: 0 }
    port.on('message', (message: ToStoreThread) => {
      if (message.type === 'query')
        void answer(message.id, async () => {
          const result = await pglite.query(message.sql, [...message.parameters])
          return { rows: result.rows, affectedRows: result.affectedRows ?? 0 }
        })
      else if (message.type === 'listen')
        void answer(message.id, async () => {
          const listener = message.id
          stops.set(
            listener,
            await pglite.listen(message.channel, (payload) => post({ type: 'notify', listener, payload })),
          )
          return none
        })
      else if (message.type === 'unlisten')
        void answer(message.id, async () => {
          await stops.get(message.listener)?.()
          stops.delete(message.listener)
          return none
        })
      else
        void answer(message.id, async () => {
          await pglite.close()
          return none
        })
    })
    post({ type: 'ready' })
  } catch (error) {
    post({ type: 'opening-failed', error: threadError(error) })
  }
}
