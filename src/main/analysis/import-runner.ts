/// <reference types="electron-vite/node" />
import { Worker } from 'node:worker_threads'
import { workerEntry } from '../threads/worker-entry'
import { ImportCancelledError, type ImportJob, type ImportOutcome, type ImportProgress } from './importer'
import type { ImportWorkerReply, ImportWorkerRequest } from './import-worker-protocol'

/** Starts the import worker: its own bundle in the built app, tsx from source (see workerEntry). */
async function spawnImportWorker(job: ImportJob): Promise<Worker> {
  const entry = await workerEntry(
    new URL('./import-worker.ts', import.meta.url),
    () => import('./import-worker?modulePath'),
  )
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
