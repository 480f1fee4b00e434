import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRouterClient } from '@orpc/server'
import { Redis } from 'ioredis'
import { CompiledQuery } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { createRouter } from '../../src/main/core/router'
import { Workstation } from '../../src/main/core/workstation'
import { findSampleFile, SAMPLE_FILE } from '../../src/main/pipeline/embedded'
import { paysimDatasetKey } from '../../src/main/pipeline/file-replay'
import { DEFAULT_PARTITIONS, DEFAULT_PREFIX, partitionStream } from '../../src/main/pipeline/partitioning'
import { encodeTransaction } from '../../src/main/pipeline/wire'
import { KeychainSecrets } from '../../src/main/secrets/keychain'
import { paysimTxnId } from '../../src/shared/paysim'
import type { PipelineStatus } from '../../src/shared/pipeline-contract'
import { holds, settles } from '../support/conditions'
import { generated, migratedDatabase, produce, storedCount, waitFor } from '../support/pipeline'
import { startPrivateRedis } from '../support/private-servers'
import { createTestDatabase, uniqueName } from '../support/services'

/** The pipeline every workstation hosts: the sample replay in Local mode, a worker thread in Team mode. */

const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

async function openWorkstation(dataDir: string, keychainService: string) {
  const workstation = new Workstation({
    dataDir,
    secrets: new KeychainSecrets(keychainService),
    version: 'test',
  })
  await workstation.start()
  return { workstation, client: createRouterClient(createRouter(workstation)) }
}

/** A workstation on a Team profile of its own: a fresh database and a private Redis. */
async function teamWorkstation() {
  const redis = await startPrivateRedis()
  cleanups.push(() => redis.stop())
  const database = await createTestDatabase('aether_pipe')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
  const dataDir = await mkdtemp(join(tmpdir(), 'aether-pipe-'))
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
  const { workstation, client } = await openWorkstation(dataDir, uniqueName('aether-test'))
  cleanups.push(() => workstation.close())
  const profile = await workstation.profiles.create({
    name: 'Team',
    postgresUrl: database.url,
    redisUrl: redis.url,
  })
  await workstation.activate(profile.id)
  return { redis, database, workstation, client }
}

const layout = { prefix: DEFAULT_PREFIX, partitions: DEFAULT_PARTITIONS }

async function rows(workstation: Workstation, text: string) {
  return (await workstation.requireStore().db.executeQuery(CompiledQuery.raw(text))).rows as Record<
    string,
    unknown
  >[]
}

describe('Local mode', () => {
  it('replays the PaySim sample into the embedded store, pauses, resumes, and carries on after a restart', async () => {
    const previous = process.env.AETHER_SAMPLE_REPLAY
    delete process.env.AETHER_SAMPLE_REPLAY
    cleanups.push(async () => (process.env.AETHER_SAMPLE_REPLAY = previous))
    const dataDir = await mkdtemp(join(tmpdir(), 'aether-pipe-'))
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
    const keychain = uniqueName('aether-test')
    let { workstation, client } = await openWorkstation(dataDir, keychain)
    cleanups.push(() => workstation.close())

    const status = await waitFor(
      'sample rows scored',
      () => client.pipeline.status(),
      (s) => s.counts.stored >= 20,
    )
    expect(status).toMatchObject({ state: 'running', mode: 'local', progress: { total: 19_999 } })
    expect(status.source).toContain(SAMPLE_FILE)
    // The sample has no bad line: nothing refused.
    expect(await client.pipeline.deadLetters()).toEqual({ total: 0, entries: [] })

    const abort = new AbortController()
    const updates: PipelineStatus[] = []
    const watching = (async () => {
      for await (const update of await client.pipeline.watchPipeline(undefined, { signal: abort.signal })) {
        updates.push(update)
        if (updates.length >= 2) abort.abort()
      }
    })().catch(() => {})

    expect((await client.pipeline.pause()).state).toBe('paused')
    const count = async () => (await rows(workstation, 'SELECT count(*)::int AS n FROM transactions'))[0]?.n
    // The rows stored beside the lines the replay has committed its place past (one row a line here).
    const replayed = async () => {
      const [status, stored] = await Promise.all([client.pipeline.status(), count()])
      return { state: status.state, stored, lines: status.progress?.done }
    }
    // The batch being read as the pause came may still land: the pause has taken hold once the store holds
    // exactly the lines committed, and still does after several batches' time (10 lines every 200 ms).
    const taken = (s: Awaited<ReturnType<typeof replayed>>) => s.state === 'paused' && s.stored === s.lines
    const atPause = await settles('the pause to take hold', replayed, taken, 1500)
    await holds('nothing more stored while paused', replayed, atPause, 1000)
    expect((await client.pipeline.resume()).state).toBe('running')
    await waitFor(
      'more rows after resuming',
      async () => (await client.pipeline.status()).counts.stored,
      (n) => n > status.counts.stored + 20,
    )
    await watching
    expect(updates.length).toBeGreaterThanOrEqual(2)

    const scored = await rows(
      workstation,
      'SELECT count(*)::int AS n, count(s.txn_id)::int AS scored FROM transactions t LEFT JOIN scores s USING (txn_id)',
    )
    expect(scored[0]?.n).toBe(scored[0]?.scored)

    await workstation.close()
    ;({ workstation, client } = await openWorkstation(dataDir, keychain))
    const before = (await rows(workstation, 'SELECT count(*)::int AS n FROM transactions'))[0]?.n as number
    await waitFor(
      'the replay to carry on',
      async () => (await client.pipeline.status()).counts.stored,
      (n) => n >= 10,
    )
    await client.pipeline.pause()
    await settles('the pause to take hold after the restart', replayed, taken, 1500)
    const ids = (await rows(workstation, 'SELECT txn_id::text AS id FROM transactions')).map(
      (row) => row.id as string,
    )
    // The lines stored are exactly the first ones of the file, each once: the restart skipped none and
    // replayed none.
    const key = await paysimDatasetKey(findSampleFile() as string)
    const expectedIds = Array.from({ length: ids.length }, (_, i) => paysimTxnId(key, i + 2))
    expect(ids.length).toBeGreaterThan(before)
    expect(new Set(ids)).toEqual(new Set(expectedIds))
  }, 90_000)
})

describe('Team mode', () => {
  it('runs a worker thread in the team’s consumer group, with status and pause/resume through the contract', async () => {
    const { redis, database, client } = await teamWorkstation()
    await produce(redis.url, layout, generated(3_000, 5))
    await waitFor(
      'the embedded worker to store the stream',
      () => storedCount(database.url),
      (n) => n >= 3_000,
    )
    const running = await waitFor(
      'the status of every partition',
      () => client.pipeline.status(),
      (s) =>
        s.counts.stored >= 3_000 &&
        s.partitions.length === DEFAULT_PARTITIONS &&
        s.partitions.every((p) => p.mine),
    )
    expect(running).toMatchObject({ state: 'running', mode: 'team', deadLetterTotal: 0 })
    expect(running.partitions.every((p) => p.lag === 0 && p.pending === 0)).toBe(true)

    // Paused, the worker leaves the group: its partitions are free for the rest of the team.
    await client.pipeline.pause()
    const paused = await waitFor(
      'the partitions given back',
      () => client.pipeline.status(),
      (s) => s.state === 'paused' && s.partitions.every((p) => p.owner === null),
    )
    expect(paused.partitions).toHaveLength(DEFAULT_PARTITIONS)
    await client.pipeline.resume()
    await produce(redis.url, layout, generated(3_500, 5).slice(3_000))
    await waitFor(
      'ingest to go on after resuming',
      () => storedCount(database.url),
      (n) => n >= 3_500,
    )
  }, 90_000)

  it('lists the newest refused messages of the team with their reasons and original fields', async () => {
    const { redis, database, client } = await teamWorkstation()
    const txns = generated(203, 3)
    await produce(redis.url, layout, txns.slice(0, 200))
    const producer = new Redis(redis.url)
    cleanups.push(async () => producer.disconnect())
    const spoiled = txns.slice(200).map((txn, i) => {
      const fields = encodeTransaction(txn)
      const amount = fields.indexOf('amount')
      fields[amount + 1] = ['-5.00', '12.345', 'lots'][i] as string
      return fields
    })
    const ids: string[] = []
    for (const [i, fields] of spoiled.entries())
      ids.push((await producer.xadd(partitionStream(layout, i), '*', ...fields)) as string)

    await waitFor(
      'the valid ones stored',
      () => storedCount(database.url),
      (n) => n >= 200,
    )
    const list = await waitFor(
      'three dead letters listed',
      () => client.pipeline.deadLetters({ limit: 2 }),
      (l) => l.total === 3,
    )
    // The newest first, limited, each with the reason, its origin and the message as it was sent.
    expect(list.entries).toHaveLength(2)
    const [newest, older] = list.entries
    expect(newest?.originalId).toBe(ids[2])
    expect(newest?.partition).toBe(2)
    expect(newest?.reason).toMatch(/amount/)
    expect(newest?.fields).toContainEqual({ name: 'amount', value: 'lots' })
    expect(newest?.fields).toContainEqual({ name: 'txn_id', value: txns[202]?.txn_id })
    expect(newest?.fields.map((field) => field.name)).not.toContain('dead_reason')
    expect(older?.originalId).toBe(ids[1])
    expect(older?.fields).toContainEqual({ name: 'amount', value: '12.345' })
    expect(Date.parse(newest?.at ?? '')).toBeGreaterThan(Date.now() - 60_000)

    // Redis gone: the list says so instead of failing the page.
    producer.disconnect()
    await redis.stop()
    const unreachable = await client.pipeline.deadLetters()
    expect(unreachable.entries).toEqual([])
    expect(unreachable.message).toBe('The dead letters could not be read from Redis: it is not reachable.')
  }, 90_000)
})
