import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  deleteKeys,
  migratedDatabase,
  spawnWorker,
  storedCount,
  testLayout,
  waitFor,
  type WorkerProcess,
} from '../support/pipeline'
import {
  startPrivatePostgres,
  startPrivateRedis,
  type PrivatePostgres,
  type PrivateRedis,
} from '../support/private-servers'

/**
 * A full run of the team backend's processes with real secrets — a PostgreSQL password in the worker's
 * --postgres-url, an API-key-like Redis password in every --redis-url — leaves none of them in the logs
 * or the output, while the logs are JSON lines an operator's pipeline can read.
 */

const PG_PASSWORD = 'pg-S3cret!pw+/42'
// Shaped like an API key; the team Redis's password here.
const API_KEY = 'ak_live_9fQ2xVb7LmT4zR8sW1nE6yHc'
const secrets = [PG_PASSWORD, API_KEY, encodeURIComponent(PG_PASSWORD), encodeURIComponent(API_KEY)]

const layout = testLayout(2)
let postgres: PrivatePostgres
let redis: PrivateRedis
let dir: string
let worker: WorkerProcess
let postgresStopped = false

const withPassword = (url: string, password: string) => {
  const parsed = new URL(url)
  parsed.password = encodeURIComponent(password)
  return parsed.toString()
}

/** `aether replay --generate n` as a real process: its exit code, stdout and stderr. */
function replayProcess(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/support/aether-cli.ts', 'replay', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })))
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aether-ops-logs-'))
  postgres = await startPrivatePostgres({ password: PG_PASSWORD })
  // No persistence, as the shared test Redis: the worker must say so in a metric.
  redis = await startPrivateRedis({ password: API_KEY, extraArgs: ['--appendonly', 'no', '--save', ''] })
  await migratedDatabase(postgres.url, PG_PASSWORD)
})

afterAll(async () => {
  worker?.child.kill('SIGTERM')
  await worker?.exited
  await deleteKeys(withPassword(redis.url, API_KEY), layout.prefix).catch(() => {})
  if (!postgresStopped) await postgres?.stop()
  await redis?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('logs of a run with secrets', () => {
  it('are JSON lines with role and worker id, and hold no password or key anywhere', async () => {
    const redisUrl = withPassword(redis.url, API_KEY)
    const replayArgs = (count: number, level: string) => [
      '--generate',
      String(count),
      '--redis-url',
      redisUrl,
      '--prefix',
      layout.prefix,
      '--partitions',
      String(layout.partitions),
      '--progress',
      join(dir, `progress-${count}.json`),
      '--log-level',
      level,
    ]
    const first = await replayProcess(replayArgs(300, 'info'))
    expect(first.code, first.stdout + first.stderr).toBe(0)
    // The human summary on stdout, the events as JSON on stderr.
    expect(first.stdout).toMatch(/Done: 300 transactions sent/)
    expect(jsonLines(first.stderr).map((line) => line.msg)).toEqual(['replay started', 'replay ended'])

    worker = spawnWorker(
      [
        '--postgres-url',
        withPassword(postgres.url, PG_PASSWORD),
        '--redis-url',
        redisUrl,
        '--prefix',
        layout.prefix,
        '--partitions',
        String(layout.partitions),
        '--log-level',
        'debug',
      ],
      { PGPASSWORD: '' },
    )
    await waitFor(
      '300 stored',
      () => storedCount(postgres.url, PG_PASSWORD),
      (n) => n === 300,
      60_000,
    )
    const port = Number(/127\.0\.0\.1:(\d+)\/metrics/.exec(worker.output())?.[1])
    const metrics = () => fetch(`http://127.0.0.1:${port}/metrics`).then((response) => response.text())
    const persistence = await waitFor(
      'the Redis persistence gauge',
      metrics,
      (text) => text.includes('\naether_redis_persistence{mode="none"} 1\n'),
      20_000,
    )
    expect(persistence).toContain('\naether_store_up 1\n')
    expect(persistence).toContain('\naether_redis_up 1\n')

    // The store goes away under traffic: the worker's failures and the probe's are logged.
    await postgres.stop()
    postgresStopped = true
    const second = await replayProcess(replayArgs(350, 'warn'))
    expect(second.code, second.stdout + second.stderr).toBe(0)
    // --log-level warn: the replay's info lines are not written.
    expect(jsonLines(second.stderr)).toEqual([])
    await waitFor('the store seen down', metrics, (text) => text.includes('\naether_store_up 0\n'), 30_000)
    await waitFor(
      'the worker’s own failure logged with its id',
      async () => jsonLines(worker.output()),
      (lines) => lines.some((line) => typeof line.worker === 'string' && line.level === 'warn'),
      30_000,
    )
    worker.child.kill('SIGTERM')
    await worker.exited

    const logs = jsonLines(worker.output())
    expect(logs.length).toBeGreaterThan(3)
    for (const line of logs) {
      expect(line).toMatchObject({ role: 'worker' })
      expect(typeof line.level).toBe('string')
      expect(Number.isNaN(Date.parse(String(line.time)))).toBe(false)
    }
    expect(logs.some((line) => line.service === 'store' && line.level === 'error')).toBe(true)
    const everything = [first.stdout, first.stderr, second.stdout, second.stderr, worker.output()].join('\n')
    for (const secret of secrets) expect(everything).not.toContain(secret)
  }, 180_000)
})
