import { parentPort, workerData } from 'node:worker_threads'
import { workerFigures, type WorkerMetrics } from './metrics'
import { createTeamWorker, newWorkerId, type TeamWorkerConfig } from './team'

/**
 * A Team-mode pipeline worker on a thread of its own, off the main event loop: the app's embedded
 * worker, and each worker of `aether worker --concurrency N`. It reports its figures every second.
 */

export type ToWorkerThread = { type: 'pause' } | { type: 'resume' } | { type: 'stop' }
export type FromWorkerThread =
  | { type: 'metrics'; metrics: WorkerMetrics }
  | { type: 'log'; line: string; workerId: string }
  | { type: 'stopped' }

const port = parentPort
if (port === null) throw new Error('thread.ts runs as a worker thread')
const post = (message: FromWorkerThread) => port.postMessage(message)

const config = workerData as TeamWorkerConfig
// Named here, so every line it logs says which worker it is.
const workerId = config.workerId ?? newWorkerId()
const team = createTeamWorker({ ...config, workerId }, (line) => post({ type: 'log', line, workerId }))
const { worker } = team
worker.start()

const report = async () => {
  post({ type: 'metrics', metrics: await workerFigures(worker) })
}
let reporting = Promise.resolve()
const timer = setInterval(() => {
  reporting = reporting.then(report).catch(() => {})
}, 1000)

port.on('message', (message: ToWorkerThread) => {
  if (message.type === 'pause') worker.pause()
  else if (message.type === 'resume') worker.resume()
  else if (message.type === 'stop') {
    clearInterval(timer)
    void reporting
      .then(() => team.close())
      .then(report)
      .finally(() => {
        post({ type: 'stopped' })
        port.close()
      })
  }
})
