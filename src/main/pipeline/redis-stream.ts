import { constants } from 'node:buffer'
import { Redis, type RedisOptions } from 'ioredis'
import {
  CONSUMER_GROUP,
  deadLetterStream,
  layoutKey,
  membersKey,
  partitionLease,
  partitionStream,
  type StreamLayout,
} from './partitioning'

/**
 * Redis side of the stream source: consumer group reads fenced by a partition lease, acks, dead
 * letters, leases and the membership of the workers sharing the group.
 *
 * ioredis is pinned at 5.9.3: 6.0.0 decoded stream replies about 40% slower in the measurement,
 * and decoding replies is most of a consumer's CPU.
 */

/** The dead-letter stream keeps this many of the newest letters by default (an operator reads the newest). */
export const DEAD_LETTERS_KEPT = 100_000
/** ... and drops letters older than this by default: a week covers a long weekend away. */
export const DEAD_LETTERS_MAX_AGE_HOURS = 168

/**
 * How long the dead-letter stream keeps a letter: both limits apply, whichever drops it first. Exact,
 * not by whole macro nodes: letters carry transaction data, so "7 days" must not mean "7 days and a bit".
 * The count holds at every write; the age is applied at each trim (every few seconds, see trim()).
 */
export interface DeadLetterRetention {
  /** The newest this many letters are kept. */
  keep: number
  /** Letters Redis added longer ago than this (by its own clock: the letter's id) are dropped. */
  maxAgeMs: number
}

export const DEFAULT_DEAD_LETTER_RETENTION: DeadLetterRetention = {
  keep: DEAD_LETTERS_KEPT,
  maxAgeMs: DEAD_LETTERS_MAX_AGE_HOURS * 3_600_000,
}

export interface RedisConnection {
  url: string
  password?: string | undefined
}

export function connectRedis(connection: RedisConnection, options: RedisOptions & { name: string }): Redis {
  const redis = new Redis(connection.url, {
    ...(connection.password !== undefined ? { password: connection.password } : {}),
    connectionName: options.name,
    // Reconnect for ever, at most 2 s apart: a restarted Redis is found again without help.
    retryStrategy: (times) => Math.min(times * 100, 2000),
    ...options,
  })
  // Errors surface on the commands that fail; the event only says the connection is down.
  redis.on('error', () => {})
  return redis
}

export interface StreamEntry {
  partition: number
  id: string
  fields: string[]
  /** Why the source already knows the entry is bad (a CSV row that is not a transaction). */
  rejected?: string
  /** The dead-letter reason's name for metrics when `rejected` is set (see PipelineStatus.deadLettersByReason). */
  rejectedKind?: 'invalid' | 'wrong_partition'
}

/** An entry as Redis gives it; `tooLong` says why one read as bytes is refused (entriesOfBytes). */
type RawEntry = [id: string, fields: string[] | null, tooLong?: string]

/**
 * A read that happens only while this worker holds the partition's lease, checked in the same script,
 * so a worker that lost a partition can never take entries its successor has to see first: per-user order
 * holds whatever the timing. `claim` takes over every pending entry of the partition (min idle 0), from a
 * cursor, as XAUTOCLAIM does; `new` reads entries never delivered, and gives them as one JSON text (an
 * array of [id, [field, value, …]]; '' or '{}' when there are none): ioredis makes a Buffer and then a
 * string of every field of every entry it is given, and JSON.parse only the strings (a read of 50 entries
 * of 15 fields: 300 µs of the worker's CPU as bulk strings, 140 as JSON, measured side by side). Bytes
 * that are not UTF-8 come out as they do from a bulk string (U+FFFD). A read whose field names and values
 * total more than ARGV[7] bytes comes as the entries themselves ({2, entries}, as XREADGROUP gives them):
 * one JSON text holds every entry of the read, and past V8's ~512 MiB the worker cannot make that string
 * (the read fails, to be claimed again as bulk strings after a rewind), while Redis would have held the
 * whole text in memory to send it.
 */
export const FENCED_READ = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
if ARGV[4] == 'claim' then
  return {1, redis.call('XAUTOCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, ARGV[6], 'COUNT', ARGV[5])}
end
local read = redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', ARGV[5], 'STREAMS', KEYS[2], '>')
if not read then return {1, ''} end
local entries = read[1][2]
local limit = tonumber(ARGV[7])
local size = 0
for _, entry in ipairs(entries) do
  if entry[2] then
    for _, value in ipairs(entry[2]) do size = size + #value end
  end
  if size > limit then return {2, entries} end
end
return {1, cjson.encode(entries)}
`

/**
 * The most bytes of field names and values a read of new entries brings as one JSON text (FENCED_READ);
 * a larger one comes as bulk strings. A generated transaction is ~300 bytes of them, so the largest read
 * (4,000 entries, one partition held) is ~1.2 MiB.
 */
export const JSON_READ_LIMIT = 16 * 1024 * 1024

/**
 * Trims one partition stream, atomically, to what some consumer group may still be given: for each group
 * the bound is the lower of its oldest pending entry and the entry after its last-delivered-id (after an
 * XGROUP SETID backwards that can be lower than what is pending: those entries are delivered again).
 * Entries below every group's bound are dropped; '~' drops only whole macro nodes below it, at most
 * ARGV[2] entries a call. A stream without the workers' own group (ARGV[1]) is left whole: a group
 * created later from 0 would expect to read it all. ARGV[3], unless empty, is kept too, with everything
 * after it: the users' states are stored up to it (0017), and a new owner replays what follows. Returns
 * {dropped, bound}. Ids compare as decimal strings (a sequence can exceed what a Lua number holds exactly).
 */
const TRIM_ACKNOWLEDGED = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, ''} end
local function less(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if am ~= bm then
    if #am ~= #bm then return #am < #bm end
    return am < bm
  end
  if #as ~= #bs then return #as < #bs end
  return as < bs
end
local function successor(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  if seq == '18446744073709551615' then return id end
  local digits = {}
  for c in string.gmatch(seq, '%d') do digits[#digits + 1] = tonumber(c) end
  local i = #digits
  while i >= 1 and digits[i] == 9 do
    digits[i] = 0
    i = i - 1
  end
  if i == 0 then table.insert(digits, 1, 1) else digits[i] = digits[i] + 1 end
  return ms .. '-' .. table.concat(digits)
end
local ours = false
local bound = nil
for _, flat in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #flat - 1, 2 do info[flat[i]] = flat[i + 1] end
  if info['name'] == ARGV[1] then ours = true end
  local keep = successor(info['last-delivered-id'])
  if tonumber(info['pending']) > 0 then
    local oldest = redis.call('XPENDING', KEYS[1], info['name'], '-', '+', 1)[1]
    if oldest ~= nil and less(oldest[1], keep) then keep = oldest[1] end
  end
  if bound == nil or less(keep, bound) then bound = keep end
end
if not ours then return {0, ''} end
if ARGV[3] ~= '' then
  local floor = successor(ARGV[3])
  if less(floor, bound) then bound = floor end
end
return {redis.call('XTRIM', KEYS[1], 'MINID', '~', bound, 'LIMIT', ARGV[2]), bound}
`

/** Drops dead letters past the count (ARGV[2]) and older than ARGV[1] ms on the server's clock. */
const TRIM_DEAD_LETTERS = `
local dropped = redis.call('XTRIM', KEYS[1], 'MAXLEN', '=', ARGV[2])
local t = redis.call('TIME')
local oldest = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
if oldest > 0 then
  dropped = dropped + redis.call('XTRIM', KEYS[1], 'MINID', '=', string.format('%.0f', oldest))
end
return dropped
`

const RENEW_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`

const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

/** Membership on the server's clock, so workers on machines whose clocks disagree still agree on who is alive. */
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 10)
return redis.call('ZRANGE', KEYS[1], 0, -1)
`

interface ScriptedRedis extends Redis {
  fencedRead(
    lease: string,
    stream: string,
    token: string,
    group: string,
    consumer: string,
    mode: 'claim' | 'new',
    count: number,
    cursor: string,
    jsonLimit: number,
  ): Promise<[0] | [1 | 2, unknown]>
  /** The same, every string of the reply as a Buffer (ioredis defines both). */
  fencedReadBuffer(...args: Parameters<ScriptedRedis['fencedRead']>): Promise<[0] | [1 | 2, unknown]>
  renewLease(lease: string, token: string, ttlMs: number): Promise<number>
  releaseLease(lease: string, token: string): Promise<number>
  heartbeat(members: string, member: string, ttlMs: number): Promise<string[]>
  trimAcknowledged(stream: string, group: string, limit: number, keepAfter: string): Promise<[number, string]>
  trimDeadLetters(stream: string, maxAgeMs: number, keep: number): Promise<number>
}

type ReadArgs = Parameters<ScriptedRedis['fencedRead']>

/** A pipeline of ScriptedRedis (ioredis gives pipelines the defined commands too, untyped). */
interface ScriptedPipeline {
  fencedRead(...args: ReadArgs): ScriptedPipeline
  fencedReadBuffer(...args: ReadArgs): ScriptedPipeline
  xreadBuffer(...args: ReturnType<typeof blockingRead>): ScriptedPipeline
  exec(): Promise<[Error | null, unknown][] | null>
}

function withScripts(redis: Redis): ScriptedRedis {
  redis.defineCommand('fencedRead', { numberOfKeys: 2, lua: FENCED_READ })
  redis.defineCommand('renewLease', { numberOfKeys: 1, lua: RENEW_LEASE })
  redis.defineCommand('releaseLease', { numberOfKeys: 1, lua: RELEASE_LEASE })
  redis.defineCommand('heartbeat', { numberOfKeys: 1, lua: HEARTBEAT })
  redis.defineCommand('trimAcknowledged', { numberOfKeys: 1, lua: TRIM_ACKNOWLEDGED })
  redis.defineCommand('trimDeadLetters', { numberOfKeys: 1, lua: TRIM_DEAD_LETTERS })
  return redis as ScriptedRedis
}

export class LeaseLostError extends Error {
  constructor(readonly partition: number) {
    super(`The lease on partition ${partition} was lost`)
    this.name = 'LeaseLostError'
  }
}

/**
 * A read of new entries whose reply held a field longer than a JavaScript string can be (V8's limit is
 * 2^29 - 24 characters; a Redis field can be 512 MiB): the entries are pending now, and the worker's
 * recovery claims them again, which reads such a field as bytes (entriesOfBytes) and refuses its entry.
 */
export class OversizedReplyError extends Error {
  constructor(partition: number) {
    super(
      `A read of partition ${partition} held a field too long to read as text (over ${constants.MAX_STRING_LENGTH.toLocaleString('en-US')} characters); its entries are read again as bytes and that entry goes to the dead-letter stream`,
    )
    this.name = 'OversizedReplyError'
  }
}

export class ReadInterruptedError extends Error {
  constructor() {
    super('The connection to Redis dropped during a read; what is pending is read again')
    this.name = 'ReadInterruptedError'
  }
}

export interface PartitionInfo {
  partition: number
  /** Lease holder (a worker id), or null when nobody holds the partition. */
  owner: string | null
  /** Entries not yet delivered to the group; null when Redis cannot tell (after deletions). */
  lag: number | null
  /** Delivered but not yet acknowledged. */
  pending: number
  length: number
}

export interface DeadLetter {
  partition: number
  id: string
  fields: string[]
  reason: string
}

/** A stream key under the prefix that no worker reads, and the entries in it. */
export interface StrayStream {
  key: string
  length: number
}

/** Keys SCAN looks at per call, and calls per look: a look touches about 100,000 keys at most. */
const SCAN_COUNT = 1000
const SCANS_PER_LOOK = 100

/**
 * Entries one trim call drops at most per partition (Redis's own default for '~'; without a loop a
 * partition taking more than 2,000 entries/s would outgrow a trim every 5 s), and calls per trim: a
 * backlog freed at once (a lagging group catching up) goes in calls that stay short, other clients
 * served between them. A call that dropped less than half its limit reached the bound.
 */
const TRIM_LIMIT = 10_000
const TRIM_ROUNDS = 20

/**
 * SCAN's MATCH is a glob: the prefix's own * ? [ ] and backslash must match themselves (validateLayout
 * refuses them today; a looser prefix rule must not turn the scan into a wider one).
 */
export const escapeGlob = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&')

/** One partition's fenced read (see readFenced). */
export interface FencedRead {
  partition: number
  token: string
  mode: 'claim' | 'new'
  count: number
  cursor: string
}

export interface FencedReply {
  partition: number
  entries: StreamEntry[]
  cursor: string
  deleted: number
}

/** XREAD's arguments that wait for an entry after each partition's id (one entry each is enough to tell). */
const blockingRead = (layout: StreamLayout, after: ReadonlyMap<number, string>, blockMs: number) =>
  [
    'COUNT',
    1,
    'BLOCK',
    blockMs,
    'STREAMS',
    ...[...after.keys()].map((partition) => partitionStream(layout, partition)),
    ...after.values(),
  ] as const

export class RedisStreams {
  /** Blocking waits and fenced reads; a lost reply is never re-sent blindly (see readFenced). */
  private readonly reader: ScriptedRedis
  /** Acks, leases, membership, status. */
  private readonly control: ScriptedRedis
  /** Counts the reader's lost connections: a read that spans one is not trusted (see readFenced). */
  private readerConnections = 0
  /** Partitions whose last read held a field too long for text: claimed as bytes (see readFenced). */
  private readonly readAsBytes = new Set<number>()

  constructor(
    connection: RedisConnection,
    readonly layout: StreamLayout,
    readonly consumer: string,
    readonly deadLetters: DeadLetterRetention = DEFAULT_DEAD_LETTER_RETENTION,
    /** See JSON_READ_LIMIT (tests set a small one to read both ways). */
    private readonly jsonReadLimit = JSON_READ_LIMIT,
  ) {
    if (!(Number.isInteger(deadLetters.keep) && deadLetters.keep >= 1 && deadLetters.maxAgeMs > 0))
      throw new Error('Dead letters are kept by a count of at least 1 and an age above 0.')
    this.reader = withScripts(
      connectRedis(connection, { name: `aether-reader-${consumer}`, maxRetriesPerRequest: 1 }),
    )
    this.reader.on('close', () => this.readerConnections++)
    this.control = withScripts(
      connectRedis(connection, { name: `aether-control-${consumer}`, maxRetriesPerRequest: 1 }),
    )
  }

  stream(partition: number) {
    return partitionStream(this.layout, partition)
  }

  /**
   * Refuses to consume a stream set written with another partition count: users would land on
   * partitions their owner does not expect and per-user order would be lost.
   */
  async checkLayout(): Promise<void> {
    const recorded = await this.control.get(layoutKey(this.layout))
    if (recorded !== null && Number(recorded) !== this.layout.partitions)
      throw new Error(
        `The streams under "${this.layout.prefix}" have ${recorded} partitions; this worker was started with ${this.layout.partitions}.`,
      )
  }

  /** Producers call this before writing: records the partition count and makes sure every group exists. */
  async prepareForProducing(): Promise<void> {
    const key = layoutKey(this.layout)
    await this.control.set(key, String(this.layout.partitions), 'NX')
    await this.checkLayout()
    for (let p = 0; p < this.layout.partitions; p++) await this.ensureGroup(p, true)
  }

  /**
   * Creates the group on an existing stream (from its first entry, so nothing written before any worker
   * started is skipped). Returns false while the stream does not exist: an idle worker leaves no keys.
   */
  async ensureGroup(partition: number, createStream = false): Promise<boolean> {
    const args: (string | number)[] = ['CREATE', this.stream(partition), CONSUMER_GROUP, '0']
    if (createStream) args.push('MKSTREAM')
    try {
      await this.control.call('XGROUP', ...args)
      return true
    } catch (error) {
      const message = (error as Error).message
      if (message.startsWith('BUSYGROUP')) return true
      if (/requires the key to exist/i.test(message)) return false
      throw error
    }
  }

  async heartbeat(ttlMs: number): Promise<string[]> {
    return this.control.heartbeat(membersKey(this.layout), this.consumer, ttlMs)
  }

  async leave(): Promise<void> {
    await this.control.zrem(membersKey(this.layout), this.consumer)
  }

  async acquireLease(partition: number, token: string, ttlMs: number): Promise<boolean> {
    return (await this.control.set(partitionLease(this.layout, partition), token, 'PX', ttlMs, 'NX')) === 'OK'
  }

  async renewLease(partition: number, token: string, ttlMs: number): Promise<boolean> {
    return (await this.control.renewLease(partitionLease(this.layout, partition), token, ttlMs)) === 1
  }

  async releaseLease(partition: number, token: string): Promise<void> {
    await this.control.releaseLease(partitionLease(this.layout, partition), token)
  }

  /** The id the group has delivered up to on a partition: where a blocking wait for new entries starts. */
  async lastDelivered(partition: number): Promise<string> {
    const groups = (await this.control.call('XINFO', 'GROUPS', this.stream(partition))) as unknown[][]
    for (const group of groups) {
      const info = pairs(group)
      if (info.get('name') === CONSUMER_GROUP) return String(info.get('last-delivered-id'))
    }
    return '0-0'
  }

  /**
   * One fenced read per partition, sent together (one round trip). `claim` partitions return their
   * pending entries from the cursor and the next cursor ('0-0' once every pending entry was seen).
   */
  async readFenced(requests: FencedRead[]): Promise<FencedReply[]> {
    return (await this.waitAndReadFenced(requests)).replies
  }

  /**
   * The fenced reads (readFenced), after a wait (`wait`: until one of the partitions has entries after
   * the given ids, or blockMs passes) in the same round trip: Redis runs a client's commands in order, so
   * the reads run as soon as the wait ends. A worker that has caught up waits this way: before, an empty
   * read, then a wait, then a read again, three round trips and two wakes a batch where this is one.
   * `came`: whether the wait saw entries (undefined without a wait).
   */
  async waitAndReadFenced(
    requests: FencedRead[],
    wait?: { after: ReadonlyMap<number, string>; blockMs: number },
  ): Promise<{ replies: FencedReply[]; came?: boolean }> {
    const connection = this.readerConnections
    const argsOf = (request: FencedRead): ReadArgs => [
      partitionLease(this.layout, request.partition),
      this.stream(request.partition),
      request.token,
      CONSUMER_GROUP,
      this.consumer,
      request.mode,
      request.count,
      request.cursor,
      this.jsonReadLimit,
    ]
    // A partition whose reply was too long for text is claimed as bytes until its claim is through.
    const asBytes = requests.map(
      (request) => request.mode === 'claim' && this.readAsBytes.has(request.partition),
    )
    // One write for all the partitions' reads, a command each (a partition's keys stay together, as a
    // cluster needs): a socket write is a system call, and at 500 transactions a second, a read of every
    // partition per small batch, they took 28% of the worker's CPU (2.07 of 7.43 s in a CPU profile of
    // `aether worker` under `aether replay --tps 500`; with the acknowledgements' writes, 35%).
    const pipeline = this.reader.pipeline() as unknown as ScriptedPipeline
    const waiting = wait !== undefined && wait.after.size > 0 && requests.length > 0
    // As bytes: only whether an entry came counts, and its fields may be too long for text.
    if (waiting) pipeline.xreadBuffer(...blockingRead(this.layout, wait.after, wait.blockMs))
    requests.forEach((request, index) =>
      asBytes[index]
        ? pipeline.fencedReadBuffer(...argsOf(request))
        : pipeline.fencedRead(...argsOf(request)),
    )
    const all = requests.length === 0 ? [] : ((await pipeline.exec()) ?? [])
    let came: boolean | undefined
    if (waiting) {
      const [error, reply] = all[0] ?? [new Error('Redis gave no reply to a wait'), undefined]
      if (error !== null) throw error
      came = reply !== null
    }
    const results = waiting ? all.slice(1) : all
    const replies = await Promise.all(
      requests.map(async (request, index): Promise<[0] | [1 | 2, unknown]> => {
        const [error, reply] = results[index] ?? [new Error('Redis gave no reply to a read'), undefined]
        if (error === null)
          return asBytes[index]
            ? claimOfBytes(reply as [0] | [1 | 2, unknown])
            : (reply as [0] | [1 | 2, unknown])
        if (asBytes[index] || !isStringTooLong(error)) throw error
        this.readAsBytes.add(request.partition)
        // New entries are delivered by the read whose reply failed: the worker rewinds and claims them.
        if (request.mode === 'new') throw new OversizedReplyError(request.partition)
        // A claim reads the same pending entries again (from the same cursor), as bytes this time.
        return claimOfBytes(await this.reader.fencedReadBuffer(...argsOf(request)))
      }),
    )
    // ioredis re-sends a command whose reply a disconnect lost; the first sending may have delivered
    // entries that are now pending and unseen. Reading past them would break per-user order.
    if (connection !== this.readerConnections) throw new ReadInterruptedError()
    return {
      came,
      replies: replies.map((reply, index): FencedReply => {
        const request = requests[index] as FencedRead
        if (reply[0] === 0) throw new LeaseLostError(request.partition)
        const body = reply[1]
        if (reply[0] === 2)
          return {
            partition: request.partition,
            entries: toEntries(request.partition, body as RawEntry[]),
            cursor: '',
            deleted: 0,
          }
        if (request.mode === 'claim') {
          const [cursor, raw, deletedIds] = body as [string, RawEntry[], string[] | undefined]
          if (cursor === '0-0') this.readAsBytes.delete(request.partition)
          const entries = toEntries(request.partition, raw)
          return { partition: request.partition, entries, cursor, deleted: deletedIds?.length ?? 0 }
        }
        const text = body as string
        // cjson writes an empty array as an empty object.
        const raw = text === '' || text === '{}' ? [] : (JSON.parse(text) as RawEntry[])
        return {
          partition: request.partition,
          entries: toEntries(request.partition, raw),
          cursor: '',
          deleted: 0,
        }
      }),
    }
  }

  /**
   * Waits until one of the partitions has entries after the given ids, or the timeout passes; says
   * whether entries came.
   */
  async waitForEntries(after: ReadonlyMap<number, string>, blockMs: number): Promise<boolean> {
    if (after.size === 0) return false
    // As bytes: only whether an entry came counts, and its fields may be too long for text.
    return (await this.reader.xreadBuffer(...blockingRead(this.layout, after, blockMs))) !== null
  }

  /**
   * The entries of a partition after `after` up to `upTo` (both ids), at most `count`, oldest first:
   * for replaying what follows the users' states' checkpoint. Read on the control connection, as the
   * stream holds them; nothing is delivered or acknowledged.
   */
  async entriesBetween(
    partition: number,
    after: string,
    upTo: string,
    count: number,
  ): Promise<StreamEntry[]> {
    const args = [this.stream(partition), `(${after}`, upTo, 'COUNT', count] as const
    try {
      return toEntries(partition, (await this.control.xrange(...args)) as RawEntry[])
    } catch (error) {
      if (!isStringTooLong(error)) throw error
      return toEntries(partition, entriesOfBytes(await this.control.xrangeBuffer(...args)))
    }
  }

  /**
   * The last entry id deleted from a partition stream by XDEL (Redis 7; a trim does not count), '0-0' if
   * none or unknown.
   */
  async maxDeleted(partition: number): Promise<string> {
    // As bytes: the reply holds the stream's first and last entries, which may be too long for text.
    const info = pairs(
      (await this.control.callBuffer('XINFO', 'STREAM', this.stream(partition))) as unknown[],
    )
    const id = info.get('max-deleted-entry-id')
    return Buffer.isBuffer(id) ? id.toString('latin1') : '0-0'
  }

  /** Dead letters first, then the acks: an entry is never acknowledged before its dead letter exists. */
  async settle(acks: Map<number, string[]>, dead: DeadLetter[]): Promise<void> {
    if (dead.length > 0) {
      const originals = await Promise.all(dead.map((letter) => this.originalFields(letter)))
      const pipeline = this.control.pipeline()
      // The arguments as one array: spread into a call, an entry of 100,000 fields overflowed the stack
      // ("Maximum call stack size exceeded"), the settle failed, and the partition stalled on it for good.
      for (const [index, letter] of dead.entries())
        pipeline.call(
          'XADD',
          (
            [deadLetterStream(this.layout), 'MAXLEN', '=', String(this.deadLetters.keep), '*'] as (
              string | Buffer
            )[]
          ).concat(originals[index] ?? letter.fields, [
            'dead_reason',
            letter.reason,
            'dead_partition',
            String(letter.partition),
            'dead_id',
            letter.id,
          ]),
        )
      const results = await pipeline.exec()
      const failed = results?.find(([error]) => error !== null)
      if (failed) throw failed[0] as Error
    }
    // One socket write for every partition's acknowledgement, a command each (a partition's keys stay
    // together, as a cluster needs): a write is a system call, and at a few hundred transactions a second
    // a batch spans most partitions.
    const pipeline = this.control.pipeline()
    for (const [partition, ids] of acks)
      if (ids.length > 0) pipeline.xack(this.stream(partition), CONSUMER_GROUP, ...ids)
    if (pipeline.length === 0) return
    const failed = (await pipeline.exec())?.find(([error]) => error !== null)
    if (failed) throw failed[0] as Error
  }

  /**
   * Text that was not valid UTF-8 reached us with U+FFFD in place of its bytes; a dead letter must
   * keep the original, so read that entry again as raw bytes (rare: only garbled entries pay for it).
   */
  private async originalFields(letter: DeadLetter): Promise<Buffer[] | undefined> {
    if (!letter.fields.some((field) => field.includes('\uFFFD'))) return undefined
    const [entry] = await this.control.xrangeBuffer(this.stream(letter.partition), letter.id, letter.id)
    return entry?.[1]
  }

  /**
   * Drops the entries of these partitions that every consumer group has read and acknowledged (Redis
   * keeps streams in memory: an untrimmed stream grows for ever), then the dead letters past their
   * retention. Never an entry still pending in a group or still to be delivered to one: each partition
   * is trimmed by one script (TRIM_ACKNOWLEDGED), so no group can be created or moved back between
   * reading the groups and trimming. Entries before a group's start (a group created at `$`) count as
   * given to it: Redis never delivers them. Approximate (whole macro nodes), as Redis trims cheapest;
   * a backlog goes TRIM_LIMIT entries a call, the partitions together in one round trip. One
   * partition's failure (a key of another type) does not stop the others; the first is thrown after.
   * `keepAfter` keeps a partition's entries after an id too (where its users' states are stored up to).
   * Returns the partition entries dropped.
   */
  async trim(partitions: Iterable<number>, keepAfter?: ReadonlyMap<number, string>): Promise<number> {
    let dropped = 0
    let failure: unknown
    let due = [...partitions]
    for (let round = 0; due.length > 0 && round < TRIM_ROUNDS; round++) {
      const results = await Promise.allSettled(
        due.map((partition) =>
          this.control.trimAcknowledged(
            this.stream(partition),
            CONSUMER_GROUP,
            TRIM_LIMIT,
            keepAfter?.get(partition) ?? '',
          ),
        ),
      )
      const again: number[] = []
      results.forEach((result, index) => {
        if (result.status === 'rejected') failure ??= result.reason
        else {
          dropped += Number(result.value[0])
          if (Number(result.value[0]) >= TRIM_LIMIT / 2) again.push(due[index] as number)
        }
      })
      due = again
    }
    await this.trimDeadLetters().catch((error: unknown) => (failure ??= error))
    if (failure !== undefined) throw failure
    return dropped
  }

  /** Applies the dead-letter retention (its count and its age); returns the letters dropped. */
  async trimDeadLetters(): Promise<number> {
    return Number(
      await this.control.trimDeadLetters(
        deadLetterStream(this.layout),
        this.deadLetters.maxAgeMs,
        this.deadLetters.keep,
      ),
    )
  }

  /**
   * Stream keys under the prefix that are neither a partition stream of this layout nor the dead-letter
   * stream (`tx:{p8}` with 8 partitions, `tx:p0`, a typo): entries written there are never read. One look
   * scans from `cursor` for SCANS_PER_LOOK calls at most, so a large keyspace costs several looks, never
   * one long stall; the cursor returned is '0' once the whole keyspace was covered. SCAN may name a key
   * twice. On Redis Cluster SCAN covers only the node this connection talks to (scanning every node is
   * not done): with the hash tags, the partition streams may live elsewhere.
   */
  async scanStrayStreams(cursor: string): Promise<{ cursor: string; keys: string[] }> {
    const read = new Set([deadLetterStream(this.layout)])
    for (let p = 0; p < this.layout.partitions; p++) read.add(this.stream(p))
    const match = `${escapeGlob(this.layout.prefix)}*`
    const keys: string[] = []
    let calls = 0
    do {
      const [next, found] = (await this.control.call(
        'SCAN',
        cursor,
        'MATCH',
        match,
        'COUNT',
        SCAN_COUNT,
        'TYPE',
        'stream',
      )) as [string, string[]]
      cursor = next
      for (const key of found) if (!read.has(key)) keys.push(key)
    } while (cursor !== '0' && ++calls < SCANS_PER_LOOK)
    return { cursor, keys }
  }

  /** The length of each stream that still exists (a stray key may be deleted between SCAN and here). */
  async streamLengths(keys: string[]): Promise<StrayStream[]> {
    if (keys.length === 0) return []
    const pipeline = this.control.pipeline()
    for (const key of keys) pipeline.exists(key).xlen(key)
    const results = (await pipeline.exec()) ?? []
    const streams: StrayStream[] = []
    keys.forEach((key, index) => {
      const [existsError, exists] = results[index * 2] ?? [null, 0]
      const [lengthError, length] = results[index * 2 + 1] ?? [null, 0]
      if (existsError ?? lengthError) throw (existsError ?? lengthError) as Error
      if (Number(exists) === 1) streams.push({ key, length: Number(length) })
    })
    return streams
  }

  /** Owner, lag and pending of every partition, and the dead-letter count: the team-wide view. */
  async partitionInfo(): Promise<{ partitions: PartitionInfo[]; deadLetters: number }> {
    const pipeline = this.control.pipeline()
    pipeline.mget(...range(this.layout.partitions).map((p) => partitionLease(this.layout, p)))
    pipeline.xlen(deadLetterStream(this.layout))
    for (let p = 0; p < this.layout.partitions; p++) {
      pipeline.call('XINFO', 'GROUPS', this.stream(p))
      pipeline.xlen(this.stream(p))
    }
    const results = (await pipeline.exec()) ?? []
    const leases = (results[0]?.[1] ?? []) as (string | null)[]
    const deadLetters = Number(results[1]?.[1] ?? 0)
    const partitions = range(this.layout.partitions).map((partition): PartitionInfo => {
      const [groupsError, groups] = results[2 + partition * 2] ?? [null, []]
      const length = Number(results[3 + partition * 2]?.[1] ?? 0)
      const group =
        groupsError === null
          ? (groups as unknown[][]).map(pairs).find((info) => info.get('name') === CONSUMER_GROUP)
          : undefined
      const lag = group?.get('lag')
      const lease = leases[partition] ?? null
      return {
        partition,
        owner: lease === null ? null : ownerOfToken(lease),
        lag: group === undefined ? length : lag === null || lag === undefined ? null : Number(lag),
        pending: group === undefined ? 0 : Number(group.get('pending') ?? 0),
        length,
      }
    })
    return { partitions, deadLetters }
  }

  async close(): Promise<void> {
    this.reader.disconnect()
    await this.control.quit().catch(() => this.control.disconnect())
  }

  /** Drops the reader's connection at once: a blocking wait ends, a stop does not wait for it. */
  interrupt(): void {
    this.reader.disconnect(true)
  }
}

/** A lease token is `<worker id>/<random>`: the random part makes a re-acquired lease a new one. */
export const ownerOfToken = (token: string) => token.slice(0, token.lastIndexOf('/'))

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** Stream ids in order: milliseconds, then the sequence number. */
export function compareIds(a: string, b: string): number {
  const [aMs = 0n, aSeq = 0n] = a.split('-').map(BigInt)
  const [bMs = 0n, bSeq = 0n] = b.split('-').map(BigInt)
  return aMs === bMs ? Number(aSeq - bSeq) : aMs < bMs ? -1 : 1
}

function pairs(flat: unknown[]): Map<string, unknown> {
  const map = new Map<string, unknown>()
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), flat[i + 1])
  return map
}

function toEntries(partition: number, raw: RawEntry[]): StreamEntry[] {
  const entries: StreamEntry[] = []
  // XAUTOCLAIM on Redis 6.2 gives a deleted entry as an id with no fields; 7 lists them apart.
  for (const [id, fields, tooLong] of raw)
    if (fields !== null)
      entries.push(
        tooLong === undefined ? { partition, id, fields } : { partition, id, fields, rejected: tooLong },
      )
  return entries
}

/** Node's error for a string longer than V8 can make (a reply's field decoded as text). */
const isStringTooLong = (error: unknown) =>
  (error as { code?: unknown } | null)?.code === 'ERR_STRING_TOO_LONG'

/**
 * Entries read as bytes (Buffers), as the strings the worker reads. A field too long to be a string
 * becomes a short stand-in holding U+FFFD, so its dead letter is written from the entry's original bytes
 * (RedisStreams.originalFields), and its entry is refused with the reason (`tooLong`): one hostile entry
 * must not make every read of its partition fail. Ids are ASCII.
 */
function entriesOfBytes(raw: [Buffer, Buffer[] | null][]): RawEntry[] {
  return raw.map(([id, fields]) => {
    if (fields === null) return [id.toString('latin1'), null]
    let tooLong: string | undefined
    const text = fields.map((bytes, index) => {
      try {
        return bytes.toString()
      } catch (error) {
        if (!isStringTooLong(error)) throw error
        const name =
          index % 2 === 0
            ? 'a field name'
            : `field ${JSON.stringify(fields[index - 1]?.subarray(0, 64).toString())}`
        tooLong ??= `${name} holds ${bytes.length.toLocaleString('en-US')} bytes, more than can be read as text (${constants.MAX_STRING_LENGTH.toLocaleString('en-US')} characters)`
        return `\uFFFD (${bytes.length} bytes, too long to read as text)`
      }
    })
    return tooLong === undefined ? [id.toString('latin1'), text] : [id.toString('latin1'), text, tooLong]
  })
}

/** A claim's reply (FENCED_READ) read as bytes: {1, {cursor, entries, deleted ids}} or {0} / {2, entries}. */
function claimOfBytes(reply: [0] | [1 | 2, unknown]): [0] | [1 | 2, unknown] {
  if (reply[0] === 0) return reply
  if (reply[0] === 2) return [2, entriesOfBytes(reply[1] as [Buffer, Buffer[] | null][])]
  const [cursor, raw, deleted] = reply[1] as [Buffer, [Buffer, Buffer[] | null][], Buffer[] | undefined]
  return [1, [cursor.toString('latin1'), entriesOfBytes(raw), deleted?.map((id) => id.toString('latin1'))]]
}
