import { parentPort, workerData } from 'node:worker_threads'
import type { WorkerMetrics } from './metrics'
import { createTeamWorker, type TeamWorkerConfig } from './team'

/**
 * A Team-mode pipeline worker on a thread of its own, off the main event loop: the app's embedded
 * worker, and each worker of `aether worker --concurrency N`. It reports its figures every second.
 */

export type ToWorkerThread = { type: 'pause' } | { type: 'resume' } | { type: 'stop' }
export type FromWorkerThread =
  { type: 'metrics'; metrics: WorkerMetrics } | { type: 'log'; line: string } | { type: 'stopped' }

const port = parentPort
if (port === null) throw new Error('thread.ts runs as a worker thread')
const post = (message: FromWorkerThread) => port.postMessage(message)

const team = createTeamWorker(workerData as TeamWorkerConfig, (line) => post({ type: 'log', line }))
const { worker } = team
worker.start()

const report = async () => {
  post({
    type: 'metrics',
    metrics: {
      status: await worker.status(),
      batches: worker.counters.batches,
      latency: worker.latency.snapshot(),
    },
  })
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
