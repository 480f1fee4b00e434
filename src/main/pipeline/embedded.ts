import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Redis } from 'ioredis'
import type { DeadLetterList, PipelineStatus } from '../../shared/pipeline-contract'
import type { Store } from '../store/store'
import { readDeadLetterStream, RecentDeadLetters } from './dead-letters'
import { FileReplaySource } from './file-replay'
import { DEFAULT_PARTITIONS, DEFAULT_PREFIX } from './partitioning'
import { connectRedis } from './redis-stream'
import { PipelineStore } from './sink'
import { WorkerThread } from './threads'
import { TeamView } from './team-view'
import { PipelineWorker } from './worker'

/**
 * The app's own pipeline, started with the active profile:
 * - Team: a worker thread joins the team's consumer group on the profile's Redis and PostgreSQL.
 * - Local: the bundled PaySim sample replays into the embedded store, so a new user sees live scoring
 *   at once: its rows are placed in real time around the first start (each step an hour, its rows
 *   spread over it in file order; the first hour just before the start, sent at once, the rest from
 *   now on as their time comes; FileReplaySource's live times). The replay runs
 *   on the main thread, gently paced (a few small batches a second), its writes
 *   sent to PGlite on the store's own thread; it resumes after the last committed line when the app
 *   starts again.
 */

export type PipelineTarget =
  | {
      mode: 'team'
      postgresUrl: string
      postgresPassword?: string | undefined
      redisUrl: string
      redisPassword?: string | undefined
      /** The team's store as this analyst reads it: Pipeline health counts the rows stored there. */
      store?: Store | undefined
    }
  | { mode: 'local'; store: Store }

/** Transactions per second of the Local sample replay. */
export const SAMPLE_REPLAY_TPS = 50
export const SAMPLE_FILE = 'paysim-first-20k.csv'
/** The sample's first hour lies before the first start: a new user's dashboard has an hour behind it. */
export const SAMPLE_HISTORY_MS = 3_600_000

/** The bundled sample, found from source (src/main/pipeline) and from the build (out/main[/chunks]). */
export function findSampleFile(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let depth = 0; depth < 5; depth++) {
    const candidate = join(dir, 'resources', SAMPLE_FILE)
    if (existsSync(candidate)) return candidate
    dir = dirname(dir)
  }
  return undefined
}

const OFF: PipelineStatus = {
  state: 'off',
  mode: 'local',
  source: 'none',
  workerId: null,
  ratePerSecond: 0,
  counts: { stored: 0, duplicates: 0, deadLetters: 0, alerts: 0, errors: 0 },
  deadLetterTotal: null,
  rulesVersion: null,
  progress: null,
  partitions: [],
  updatedAt: new Date(0).toISOString(),
}

type Running = (
  | { mode: 'team'; thread: WorkerThread; source: string; deadLetters: Redis }
  | { mode: 'local'; worker: PipelineWorker; deadLetters: RecentDeadLetters }
  | { mode: 'local' | 'team'; worker: undefined; reason: string }
) & { team?: TeamView; teamRedis?: Redis }

export class PipelineHost {
  private running: Running | undefined
  private paused = false

  constructor(
    private readonly log: (line: string) => void = (line) => console.error(`[aether pipeline] ${line}`),
  ) {}

  /** Stops the current pipeline (gracefully) and starts the one of the new profile. */
  async switchTo(target: PipelineTarget): Promise<void> {
    await this.stop()
    this.paused = false
    if (target.mode === 'team') {
      // The profile opens whatever happens here: a pipeline that cannot start is a status, not a failure.
      const thread = await WorkerThread.start(
        {
          postgres: { url: target.postgresUrl, password: target.postgresPassword },
          redis: { url: target.redisUrl, password: target.redisPassword },
          layout: { prefix: DEFAULT_PREFIX, partitions: DEFAULT_PARTITIONS },
        },
        this.log,
      ).catch((error: unknown) => error as Error)
      const redis = connectRedis(
        { url: target.redisUrl, password: target.redisPassword },
        { name: 'aether-dead-letters', lazyConnect: true, maxRetriesPerRequest: 1 },
      )
      const layout = { prefix: DEFAULT_PREFIX, partitions: DEFAULT_PARTITIONS }
      this.running =
        thread instanceof WorkerThread
          ? {
              mode: 'team',
              thread,
              source: `Redis streams ${DEFAULT_PREFIX}tx`,
              deadLetters: redis,
              team: new TeamView(redis, layout, target.store, null),
            }
          : {
              mode: 'team',
              worker: undefined,
              reason: `The pipeline worker could not start: ${thread.message}`,
              team: new TeamView(redis, layout, target.store, null),
              teamRedis: redis,
            }
      return
    }
    const sample = findSampleFile()
    if (process.env.AETHER_SAMPLE_REPLAY === 'off' || sample === undefined) {
      this.running = {
        mode: 'local',
        worker: undefined,
        reason:
          sample === undefined
            ? `The sample ${SAMPLE_FILE} is not in this installation's resources.`
            : 'The sample replay is off (AETHER_SAMPLE_REPLAY=off).',
      }
      return
    }
    const deadLetters = new RecentDeadLetters()
    const source = new FileReplaySource({
      path: sample,
      tps: SAMPLE_REPLAY_TPS,
      live: { historyMs: SAMPLE_HISTORY_MS },
      onDeadLetter: (letter) => {
        deadLetters.add(letter)
        this.log(`sample line ${letter.id} skipped: ${letter.reason}`)
      },
    })
    const worker = new PipelineWorker(source, new PipelineStore(target.store, `file:${SAMPLE_FILE}`), {
      workerId: 'local',
      mode: 'local',
      maxBatch: 50,
      listen: target.store.listen,
      log: this.log,
    })
    worker.start()
    this.running = {
      mode: 'local',
      worker,
      deadLetters,
      team: new TeamView(undefined, { prefix: DEFAULT_PREFIX, partitions: 1 }, target.store, 'local'),
    }
  }

  async status(): Promise<PipelineStatus> {
    const status = await this.ownStatus()
    const view = this.running?.team
    if (view === undefined) return status
    try {
      const team = await view.read()
      if (
        status.mode === 'local' &&
        this.running !== undefined &&
        'worker' in this.running &&
        this.running.worker
      )
        team.workers = [
          {
            id: status.workerId ?? 'local',
            alive: status.state === 'running' || status.state === 'waiting',
            mine: true,
            partitions: [0],
            ratePerSecond: status.ratePerSecond,
          },
        ]
      else for (const worker of team.workers) worker.mine = worker.id === status.workerId
      return { ...status, team }
    } catch {
      // Redis unreachable: the worker's own status says so; the team's view is left out.
      return status
    }
  }

  private async ownStatus(): Promise<PipelineStatus> {
    const running = this.running
    if (running === undefined) return { ...OFF, updatedAt: new Date().toISOString() }
    if (running.mode === 'team' && 'thread' in running) {
      const latest = running.thread.latest?.status
      return (
        latest ?? {
          ...OFF,
          state: 'starting',
          mode: 'team',
          source: running.source,
          updatedAt: new Date().toISOString(),
        }
      )
    }
    if (running.worker === undefined)
      return { ...OFF, mode: running.mode, message: running.reason, updatedAt: new Date().toISOString() }
    return running.worker.status()
  }

  /** The team Redis this workstation reads (the dead letters' connection) and the streams' prefix. */
  teamStreams(): { redis: Redis; prefix: string } | { reason: string } {
    const running = this.running
    if (running?.mode === 'team' && 'thread' in running)
      return { redis: running.deadLetters, prefix: DEFAULT_PREFIX }
    if (running?.mode === 'team' && 'reason' in running) return { reason: running.reason }
    return { reason: 'No team pipeline is running.' }
  }

  async deadLetters(limit = 100): Promise<DeadLetterList> {
    const running = this.running
    if (running === undefined || !('deadLetters' in running))
      return { total: 0, entries: [], message: 'No pipeline is running.' }
    if (running.mode === 'local') return running.deadLetters.list(limit)
    try {
      return await readDeadLetterStream(
        running.deadLetters,
        { prefix: DEFAULT_PREFIX, partitions: DEFAULT_PARTITIONS },
        limit,
      )
    } catch (error) {
      const reason =
        (error as Error).name === 'MaxRetriesPerRequestError'
          ? 'it is not reachable'
          : (error as Error).message
      return { total: 0, entries: [], message: `The dead letters could not be read from Redis: ${reason}.` }
    }
  }

  async pause(): Promise<PipelineStatus> {
    this.paused = true
    const running = this.running
    if (running !== undefined && 'thread' in running) running.thread.pause()
    else running?.worker?.pause()
    return { ...(await this.status()), state: 'paused' }
  }

  async resume(): Promise<PipelineStatus> {
    this.paused = false
    const running = this.running
    if (running !== undefined && 'thread' in running) running.thread.resume()
    else running?.worker?.resume()
    const status = await this.status()
    return status.state === 'paused' ? { ...status, state: 'running' } : status
  }

  /** The status now, then each second whenever it changed, until the signal aborts. */
  async *watch(signal?: AbortSignal): AsyncGenerator<PipelineStatus> {
    let previous = ''
    while (!(signal?.aborted ?? false)) {
      const status = await this.status()
      const key = JSON.stringify({ ...status, updatedAt: '' })
      if (key !== previous) {
        previous = key
        yield this.paused && status.state !== 'paused' ? { ...status, state: 'paused' } : status
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', done)
          resolve()
        }
        const timer = setTimeout(done, 1000)
        signal?.addEventListener('abort', done, { once: true })
      })
    }
  }

  async stop(): Promise<void> {
    const running = this.running
    this.running = undefined
    running?.teamRedis?.disconnect()
    if (running !== undefined && 'thread' in running) {
      running.deadLetters.disconnect()
      await running.thread.stop()
    } else await running?.worker?.stop()
  }
}
