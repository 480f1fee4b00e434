/// <reference types="electron-vite/node" />
import { Worker } from 'node:worker_threads'
import { workerEntry } from '../threads/worker-entry'
import type { Forecast, Spike } from './forecast'

export interface ForecastJob {
  series: number[]
  horizon: number
  spikeWindow: number
}

export type ForecastReply = { forecast: Forecast | null; spikes: Spike[] } | { error: string }

/**
 * The throughput forecast and its spikes, fitted off the main event loop: ARIMA fits are synchronous
 * WebAssembly, and the main process serves every analyst's requests.
 */
export async function forecastOffThread(
  job: ForecastJob,
): Promise<{ forecast: Forecast | null; spikes: Spike[] }> {
  const entry = await workerEntry(
    new URL('./forecast-worker.ts', import.meta.url),
    () => import('./forecast-worker?modulePath'),
  )
  const worker = new Worker(entry, { workerData: job })
  try {
    const reply = await new Promise<ForecastReply>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
      worker.once('exit', (code) => reject(new Error(`The forecast worker stopped (exit code ${code}).`)))
    })
    if ('error' in reply) throw new Error(`The forecast failed: ${reply.error}`)
    return reply
  } finally {
    void worker.terminate()
  }
}
