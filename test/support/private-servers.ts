import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'

/**
 * Throwaway PostgreSQL and Redis servers of a test's own, for what the shared ones (trust auth, no
 * requirepass) cannot show: passwords, restarts, crashes. Each listens on a free loopback port and
 * lives in a temp folder removed by stop(); the shared servers on 5432/6379 are never touched.
 */

const run = promisify(execFile)

const asRoot = process.getuid?.() === 0

/** initdb, pg_ctl and postgres refuse to run as root: run them as the postgres user instead. */
const pgCommand = (binary: string, args: string[]): [string, string[]] =>
  asRoot ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args]

/** A free loopback port: the system picks one for a listener we close at once. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('Could not find a free port')
  return address.port
}

/** Processes still to clean up if the test process ends without calling stop(). */
const leftovers = new Set<() => void>()
let exitHookInstalled = false
function onExit(cleanup: () => void): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => {
      for (const item of leftovers) {
        try {
          item()
        } catch {
          // best effort: the process is ending
        }
      }
    })
  }
  leftovers.add(cleanup)
  return () => leftovers.delete(cleanup)
}

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL

/** The bin folder of the highest PostgreSQL installed under /usr/lib/postgresql. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+(\.\d+)?$/.test(name) && existsSync(join(root, name, 'bin', 'pg_ctl')))
        .sort((a, b) => Number(b) - Number(a))
    : []
  const highest = versions[0]
  if (highest === undefined)
    throw new Error(`No PostgreSQL server binaries (initdb, pg_ctl) under ${root}/*/bin`)
  return join(root, highest, 'bin')
}

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres, without the password. */
  url: string
  password: string
  port: number
  /** Restarts the server on the same port and data; 'immediate' simulates a crash. */
  restart(mode?: 'fast' | 'immediate'): Promise<void>
  /** Stops the server at once and removes its data. */
  stop(): Promise<void>
}

export interface PrivatePostgresOptions {
  password: string
  /**
   * Server settings after the defaults (the later of two wins), e.g. { fsync: 'on' } for a server whose
   * figures must be those of a durable one (a bench), where tests run with fsync off for speed.
   */
  settings?: Record<string, string>
}

export async function startPrivatePostgres({
  password,
  settings = {},
}: PrivatePostgresOptions): Promise<PrivatePostgres> {
  const bin = postgresBinDir()
  const dir = await mkdtemp(join(tmpdir(), 'aether-pg-'))
  const data = join(dir, 'data')
  const log = join(dir, 'server.log')
  const pwfile = join(dir, 'pwfile')
  const port = await freePort()

  const pg = async (binary: string, args: string[]) => {
    const [command, commandArgs] = pgCommand(join(bin, binary), args)
    try {
      await run(command, commandArgs, { cwd: dir, timeout: 90_000 })
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string }
      const serverLog = existsSync(log) ? await readFile(log, 'utf8') : ''
      throw new Error(
        `${binary} ${args.join(' ')} failed: ${(error as Error).message}\n${stdout ?? ''}${stderr ?? ''}${serverLog}`,
        { cause: error },
      )
    }
  }
  const serverOptions = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    // A process crash (kill -9, immediate shutdown) keeps what reached the OS, so fsync can be off for
    // speed; synchronous_commit stays on, as on any server a pipeline relies on: with it off a commit is
    // answered before its WAL is written, and a crash then loses transactions the worker acknowledged.
    '-c fsync=off',
    '-c full_page_writes=off',
    '-c synchronous_commit=on',
    ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`),
  ].join(' ')
  const pgCtl = (action: string, extra: string[] = []) =>
    pg('pg_ctl', [action, '-D', data, '-l', log, '-w', '-t', '60', ...extra])

  const removeDir = () => rm(dir, { recursive: true, force: true })
  let running = false
  const forget = onExit(() => {
    if (running) {
      const [command, args] = pgCommand(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w'])
      execFileSync(command, args, { cwd: dir, stdio: 'ignore', timeout: 20_000 })
    }
    rmSync(dir, { recursive: true, force: true })
  })

  try {
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 })
    if (asRoot) await run('chown', ['-R', 'postgres:postgres', dir])
    await pg('initdb', [
      '-D',
      data,
      '--auth=scram-sha-256',
      `--pwfile=${pwfile}`,
      '-U',
      'postgres',
      '--no-sync',
      '--encoding=UTF8',
      '--locale=C',
    ])
    await rm(pwfile, { force: true })
    await pgCtl('start', ['-o', serverOptions])
    running = true
  } catch (error) {
    forget()
    await removeDir()
    throw error
  }

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    password,
    port,
    restart: async (mode = 'fast') => {
      await pgCtl('restart', ['-m', mode, '-o', serverOptions])
      running = true
    },
    stop: async () => {
      forget()
      try {
        if (running) await pgCtl('stop', ['-m', 'immediate'])
      } finally {
        running = false
        await removeDir()
      }
    },
  }
}

// ---------------------------------------------------------------------------------------------------------
// Redis

export interface PrivateRedis {
  /** redis://127.0.0.1:PORT, without the password. */
  url: string
  password: string | undefined
  port: number
  /** Stops the server and removes its data. */
  stop(): Promise<void>
  /** SIGKILL, as a crash: the data folder stays for restart(). */
  kill(): Promise<void>
  /** Starts the server again on the same port and data folder (stopping it first if it runs). */
  restart(): Promise<void>
}

export interface PrivateRedisOptions {
  password?: string
  /**
   * More redis-server options, after the defaults (AOF on, appendfsync everysec, no RDB snapshots), so
   * they override them: e.g. ['--appendonly', 'no'] for a Redis without persistence.
   */
  extraArgs?: string[]
}

export async function startPrivateRedis({
  password,
  extraArgs = [],
}: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'aether-redis-'))
  const port = await freePort()
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--dir',
    dir,
  ]
  if (password !== undefined) args.push('--requirepass', password)
  args.push(...extraArgs)

  let child: ChildProcess | undefined
  let output = ''
  const exited = (server: ChildProcess) =>
    server.exitCode !== null || server.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => server.once('exit', () => resolve()))

  const forget = onExit(() => {
    child?.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  const start = async () => {
    output = ''
    const server = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    child = server
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8000)
    }
    server.stdout?.on('data', keep)
    server.stderr?.on('data', keep)
    let spawnError: Error | undefined
    server.once('error', (error) => {
      spawnError = error
    })
    const deadline = Date.now() + 20_000
    for (;;) {
      if (spawnError !== undefined) throw new Error(`redis-server could not start: ${spawnError.message}`)
      if (server.exitCode !== null || server.signalCode !== null)
        throw new Error(`redis-server exited (${server.exitCode ?? server.signalCode}):\n${output}`)
      if (await answersPing(port, password)) return
      if (Date.now() > deadline) {
        server.kill('SIGKILL')
        throw new Error(`redis-server on port ${port} did not answer PING within 20 s:\n${output}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  const halt = async (signal: NodeJS.Signals) => {
    const current = child
    if (current === undefined) return
    child = undefined
    if (current.exitCode === null && current.signalCode === null) current.kill(signal)
    await exited(current)
  }

  try {
    await start()
  } catch (error) {
    await halt('SIGKILL')
    forget()
    await rm(dir, { recursive: true, force: true })
    throw error
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    password,
    port,
    stop: async () => {
      try {
        await halt('SIGTERM')
      } finally {
        forget()
        await rm(dir, { recursive: true, force: true })
      }
    },
    kill: () => halt('SIGKILL'),
    restart: async () => {
      await halt('SIGTERM')
      await start()
    },
  }
}

async function answersPing(port: number, password: string | undefined): Promise<boolean> {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    ...(password !== undefined ? { password } : {}),
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  })
  redis.on('error', () => {})
  try {
    await redis.connect()
    return (await redis.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    redis.disconnect()
  }
}
