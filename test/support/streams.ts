import { spawn, type ChildProcess } from 'node:child_process'
import { Redis } from 'ioredis'
import { partitionStream, type StreamLayout } from '../../src/main/pipeline/partitioning'

/** What the partition streams hold, read back as a consumer would: for checking what a producer sent. */

async function withRedis<T>(url: string, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on('error', () => {})
  await redis.connect()
  try {
    return await use(redis)
  } finally {
    redis.disconnect()
  }
}

/** Entries over every partition stream. */
export function streamLength(url: string, layout: StreamLayout): Promise<number> {
  return withRedis(url, async (redis) => {
    let total = 0
    for (let p = 0; p < layout.partitions; p++) total += await redis.xlen(partitionStream(layout, p))
    return total
  })
}

/** How many times each txn_id is in the partition streams. */
export function txnCopies(url: string, layout: StreamLayout): Promise<Map<string, number>> {
  return withRedis(url, async (redis) => {
    const copies = new Map<string, number>()
    for (let p = 0; p < layout.partitions; p++) {
      let start = '-'
      for (;;) {
        const entries = await redis.xrange(partitionStream(layout, p), start, '+', 'COUNT', 5000)
        for (const [, fields] of entries) {
          const id = fields[fields.indexOf('txn_id') + 1] as string
          copies.set(id, (copies.get(id) ?? 0) + 1)
        }
        if (entries.length < 5000) break
        start = `(${(entries.at(-1) as [string, string[]])[0]}`
      }
    }
    return copies
  })
}

export interface CliProcess {
  child: ChildProcess
  output(): string
  exited: Promise<number | null>
}

/** `aether <args>` as a real process, from source. */
export function spawnCli(args: string[]): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/aether-cli.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, output: () => output, exited }
}
