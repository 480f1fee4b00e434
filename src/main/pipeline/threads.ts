/// <reference types="electron-vite/node" />
import { Worker } from 'node:worker_threads'
import { workerEntry } from '../threads/worker-entry'
import type { WorkerMetrics } from './metrics'
import type { TeamWorkerConfig } from './team'
import type { FromWorkerThread, GcPause, ToWorkerThread } from './thread'

export interface WorkerThreadOptions {
  /** Told each GC pause of the thread's isolate, about once a second. */
  onGc?: (pauses: GcPause[]) => void
  /** Told when the thread ends without a stop (a crash in it): its exit code. */
  onEnded?: (code: number) => void
}

/** A Team-mode worker on its own thread; a crash there ends the thread, never the app. */
export class WorkerThread {
  latest: WorkerMetrics | undefined
  onMetrics: ((metrics: WorkerMetrics) => void) | undefined
  private readonly exited: Promise<void>
  private stopped = false

  private constructor(
    private readonly thread: Worker,
    onLog: (line: string, workerId?: string) => void,
    options: WorkerThreadOptions,
  ) {
    thread.on('message', (message: FromWorkerThread) => {
      if (message.type === 'metrics') {
        this.latest = message.metrics
        this.onMetrics?.(message.metrics)
        if (message.gc.length > 0) options.onGc?.(message.gc)
      } else if (message.type === 'log') onLog(message.line, message.workerId)
    })
    this.exited = new Promise((resolve) => {
      thread.once('exit', (code) => {
        if (!this.stopped) {
          onLog(`the pipeline worker thread ended unexpectedly (exit code ${code})`)
          options.onEnded?.(code)
        }
        resolve()
      })
      thread.once('error', (error) => onLog(`the pipeline worker thread failed: ${error.message}`))
    })
  }

  /** `onLog` is told each line the worker logs, with the worker's id. */
  static async start(
    config: TeamWorkerConfig,
    onLog: (line: string, workerId?: string) => void,
    options: WorkerThreadOptions = {},
  ): Promise<WorkerThread> {
    return new WorkerThread(
      new Worker(
        await workerEntry(new URL('./thread.ts', import.meta.url), () => import('./thread?modulePath')),
        { workerData: config },
      ),
      onLog,
      options,
    )
  }

  private send(message: ToWorkerThread) {
    this.thread.postMessage(message)
  }

  pause() {
    this.send({ type: 'pause' })
  }

  resume() {
    this.send({ type: 'resume' })
  }

  /** Graceful: the batch in flight is committed and acknowledged; after `graceMs` the thread is ended. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.stopped) return this.exited
    this.stopped = true
    this.send({ type: 'stop' })
    const timer = setTimeout(() => void this.thread.terminate(), graceMs)
    await this.exited
    clearTimeout(timer)
  }
}
