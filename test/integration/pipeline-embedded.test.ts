import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRouterClient } from '@orpc/server'
import { CompiledQuery } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { createRouter } from '../../src/main/core/router'
import { Workstation } from '../../src/main/core/workstation'
import { findSampleFile, SAMPLE_FILE } from '../../src/main/pipeline/embedded'
import { paysimDatasetKey } from '../../src/main/pipeline/file-replay'
import { DEFAULT_PARTITIONS, DEFAULT_PREFIX } from '../../src/main/pipeline/partitioning'
import { KeychainSecrets } from '../../src/main/secrets/keychain'
import { paysimTxnId } from '../../src/shared/paysim'
import type { PipelineStatus } from '../../src/shared/pipeline-contract'
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
    await new Promise((resolve) => setTimeout(resolve, 500))
    const atPause = await count()
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(await count()).toBe(atPause)
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
    await new Promise((resolve) => setTimeout(resolve, 500))
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

    const layout = { prefix: DEFAULT_PREFIX, partitions: DEFAULT_PARTITIONS }
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
})
