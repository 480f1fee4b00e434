import { parentPort, workerData } from 'node:worker_threads'
import { findSpikes, forecastCounts } from './forecast'
import type { ForecastJob, ForecastReply } from './forecast-runner'

/** One dashboard's model fits, on a thread of their own: they take a tenth of a second of CPU. */
const port = parentPort
if (port === null) throw new Error('The forecast worker runs only as a worker thread.')
const job = workerData as ForecastJob
let reply: ForecastReply
try {
  reply = {
    forecast: forecastCounts(job.series, job.horizon),
    spikes: findSpikes(job.series, job.spikeWindow),
  }
} catch (error) {
  reply = { error: error instanceof Error ? error.message : String(error) }
}
port.postMessage(reply)
