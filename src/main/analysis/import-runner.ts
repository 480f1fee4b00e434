/// <reference types="electron-vite/node" />
import { Worker } from 'node:worker_threads'
import { ImportCancelledError, type ImportJob, type ImportOutcome, type ImportProgress } from './importer'
import type { ImportWorkerReply, ImportWorkerRequest } from './import-worker-protocol'

/**
 * Starts the import worker. The built app carries the worker as its own bundle (electron-vite's
 * `?modulePath`); from source (tests, scripts) Node cannot load TypeScript, so the worker registers tsx
 * before loading its entry.
 */
async function spawnImportWorker(job: ImportJob): Promise<Worker> {
  if (import.meta.url.endsWith('.ts')) {
    const entry = new URL('./import-worker.ts', import.meta.url).href
    const tsx = import.meta.resolve('tsx/esm/api')
    const bootstrap = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}) })`
    return new Worker(bootstrap, { eval: true, workerData: job })
  }
  const { default: entry } = await import('./import-worker?modulePath')
  return new Worker(entry, { workerData: job })
}

export interface ImportRun {
  /** The outcome; rejects with ImportCancelledError when cancelled, or an Error saying what failed. */
  readonly done: Promise<ImportOutcome>
  cancel(): void
}

/** Runs an import in a worker thread, off the main event loop, with progress and cancel. */
export async function startImport(
  job: ImportJob,
  onProgress: (progress: ImportProgress) => void,
): Promise<ImportRun> {
  const worker = await spawnImportWorker(job)
  const done = new Promise<ImportOutcome>((resolve, reject) => {
    let settled = false
    const settle = (outcome: () => void) => {
      if (settled) return
      settled = true
      outcome()
    }
    worker.on('message', (reply: ImportWorkerReply) => {
      if (reply.type === 'progress') onProgress(reply.progress)
      else if (reply.type === 'done') settle(() => resolve(reply.outcome))
      else if (reply.type === 'cancelled') settle(() => reject(new ImportCancelledError()))
      else settle(() => reject(new Error(reply.message)))
    })
    worker.on('error', (error) =>
      settle(() => reject(new Error(`The import worker failed: ${error.message}`))),
    )
    worker.on('exit', (code) =>
      settle(() => reject(new Error(`The import worker stopped (exit code ${code}) before it finished.`))),
    )
  })
  return {
    done,
    cancel: () => worker.postMessage({ type: 'cancel' } satisfies ImportWorkerRequest),
  }
}
