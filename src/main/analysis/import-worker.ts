import { parentPort, workerData } from 'node:worker_threads'
import { ImportCancelledError, runImport, type ImportJob } from './importer'
import type { ImportWorkerReply, ImportWorkerRequest } from './import-worker-protocol'

/** The import worker thread: runs one import, posts its progress and outcome, and ends. */
const port = parentPort
if (port === null) throw new Error('The import worker runs only as a worker thread.')
const abort = new AbortController()
const onRequest = (request: ImportWorkerRequest) => {
  if (request.type === 'cancel') abort.abort()
}
port.on('message', onRequest)
const reply = (message: ImportWorkerReply) => port.postMessage(message)

runImport(workerData as ImportJob, (progress) => reply({ type: 'progress', progress }), abort.signal)
  .then((outcome) => reply({ type: 'done', outcome }))
  .catch((error: unknown) => {
    if (error instanceof ImportCancelledError) reply({ type: 'cancelled' })
    else reply({ type: 'failed', message: error instanceof Error ? error.message : String(error) })
  })
  .finally(() => port.off('message', onRequest))
