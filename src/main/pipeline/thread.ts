import { constants, PerformanceObserver } from 'node:perf_hooks'
import { parentPort, workerData } from 'node:worker_threads'
import { workerFigures, type WorkerMetrics } from './metrics'
import { createTeamWorker, newWorkerId, type TeamWorkerConfig } from './team'

/**
 * A Team-mode pipeline worker on a thread of its own, off the main event loop: the app's embedded
 * worker, and each worker of `aether worker --concurrency N`. It reports its figures every second, with
 * its isolate's GC pauses (a PerformanceObserver sees only its own thread's: the process's /metrics adds
 * them to its own).
 */

export type GcKind = 'major' | 'minor' | 'incremental' | 'weakcb'
/** One GC pause of the thread's isolate: its kind and seconds. */
export type GcPause = [GcKind, number]

export type ToWorkerThread = { type: 'pause' } | { type: 'resume' } | { type: 'stop' }
export type FromWorkerThread =
  | { type: 'metrics'; metrics: WorkerMetrics; gc: GcPause[] }
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

const kinds: Record<number, GcKind> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
}
let pauses: GcPause[] = []
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = kinds[(entry as { detail?: { kind?: number } }).detail?.kind ?? -1]
    if (kind !== undefined) pauses.push([kind, entry.duration / 1000])
  }
})
gcObserver.observe({ entryTypes: ['gc'] })

const report = async () => {
  const metrics = await workerFigures(worker)
  const gc = pauses
  pauses = []
  post({ type: 'metrics', metrics, gc })
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
    gcObserver.disconnect()
    void reporting
      .then(() => team.close())
      .then(report)
      .finally(() => {
        post({ type: 'stopped' })
        port.close()
      })
  }
})
