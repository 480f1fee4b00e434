import { EventEmitter, on } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { AppMode, AppStatus, MigrationResult } from '../../shared/contract'
import {
  LOCAL_PROFILE_ID,
  type ConnectionReport,
  type Profile,
  type TeamProfile,
  type TeamProfileDraft,
} from '../../shared/profile'
import { DatasetsService } from '../analysis/datasets-service'
import { ServiceUnavailableError } from '../errors'
import { PipelineHost } from '../pipeline/embedded'
import type { RedisConnection } from '../pipeline/redis-stream'
import { KeychainUnavailableError, type SecretStore } from '../secrets/keychain'
import { migrateToLatest, schemaState } from '../store/migrate'
import { latestMigration } from '../store/migrations'
import type { StoreScope } from '../store/scope'
import { openEmbeddedStore, openPostgresStore, type Store } from '../store/store'
import { checkPostgres, checkRedis } from './connection-check'
import { ProfileStore, type TeamCredentials } from './profiles'
import { SessionSentinel } from './session-sentinel'

export interface WorkstationOptions {
  /** The user-data folder: profiles.json and the embedded store live here. */
  dataDir: string
  secrets: SecretStore
  version: string
}

/**
 * The composition root: owns the active profile's store and everything built on it. Electron, the
 * loopback host and the CLI all drive the app through one of these; features see only the narrow
 * scopes it implements (StoreScope), handed to them by core/router.ts.
 */
export class Workstation implements StoreScope {
  readonly profiles: ProfileStore
  /** The embedded ingestion pipeline of the active profile (Team: a worker thread; Local: the sample replay). */
  readonly pipeline = new PipelineHost()
  /** Offline datasets (DuckDB files in <dataDir>/datasets), whatever the active profile. */
  readonly datasets: DatasetsService
  private store: Store | undefined
  /** The profile whose store `store` is: the status names the new profile only once the switch is done. */
  private storeProfile: Profile | undefined
  private sentinel: SessionSentinel | undefined
  private current: AppStatus
  private readonly events = new EventEmitter()
  private switching: Promise<unknown> = Promise.resolve()

  constructor(private readonly options: WorkstationOptions) {
    this.profiles = new ProfileStore(options.dataDir, options.secrets)
    this.datasets = new DatasetsService({ dir: join(options.dataDir, 'datasets') })
    this.events.setMaxListeners(0)
    this.current = {
      state: 'starting',
      version: options.version,
      mode: 'local',
      profileId: 'local',
      profileName: 'Local',
      store: { engine: 'pglite', schemaVersion: null, latestSchemaVersion: latestMigration },
    }
  }

  status(): AppStatus {
    return this.current
  }

  /** The status now, then every change, until the signal aborts. */
  async *watchStatus(signal?: AbortSignal): AsyncGenerator<AppStatus> {
    const changes = on(this.events, 'status', signal ? { signal } : {})
    yield this.current
    try {
      for await (const [status] of changes) yield status as AppStatus
    } catch (error) {
      if (!(signal?.aborted ?? false)) throw error
    }
  }

  private publish(status: AppStatus) {
    this.current = status
    this.events.emit('status', status)
  }

  /** Opens the active profile. A failure is reported in the status, never thrown: the UI shows it. */
  async start(): Promise<AppStatus> {
    const { activeId } = await this.profiles.list()
    try {
      return await this.activate(activeId)
    } catch (error) {
      const profile = await this.profiles.get(activeId)
      this.publish({
        ...this.baseStatus(profile),
        state: 'error',
        message: error instanceof Error ? error.message : String(error),
      })
      return this.current
    }
  }

  /** Switches to a profile. The old store stays in use until the new one is open and current. */
  activate(id: string): Promise<AppStatus> {
    const next = this.switching.then(() => this.switchTo(id))
    this.switching = next.catch(() => {})
    return next
  }

  private async switchTo(id: string): Promise<AppStatus> {
    const profile = await this.profiles.get(id)
    const store = await this.openStore(profile)
    let schema: string | null
    try {
      schema = await this.prepareSchema(profile, store)
    } catch (error) {
      await store.close()
      throw error
    }
    const previous = this.store
    this.store = store
    this.storeProfile = profile
    // Before the old store closes: whatever follows it (a live feed) lets go first.
    this.events.emit('store')
    await this.profiles.setActive(id)
    await this.pipeline.switchTo(
      profile.kind === 'local'
        ? { mode: 'local', store }
        : { mode: 'team', ...(await this.credentialsOf(profile)), store },
    )
    await previous?.close()
    await this.followSession(profile)
    const status = this.baseStatus(profile)
    this.publish({ ...status, state: 'ready', store: { ...status.store, schemaVersion: schema } })
    return this.current
  }

  /** A team session can end under us (an administrator disables the analyst): the status says why. */
  private async followSession(profile: Profile) {
    await this.sentinel?.close()
    this.sentinel = undefined
    if (profile.kind !== 'team') return
    this.sentinel = await SessionSentinel.watch(await this.profiles.credentials(profile), (end) => {
      if (this.current.profileId === profile.id)
        this.publish({ ...this.current, state: 'error', message: end.message })
    })
  }

  private baseStatus(profile: Profile): AppStatus {
    return {
      state: this.current.state,
      version: this.options.version,
      mode: profile.kind,
      profileId: profile.id,
      profileName: profile.name,
      store: {
        engine: profile.kind === 'local' ? 'pglite' : 'postgresql',
        schemaVersion: null,
        latestSchemaVersion: latestMigration,
      },
    }
  }

  private async openStore(profile: Profile): Promise<Store> {
    if (profile.kind === 'local') {
      const dir = join(this.options.dataDir, 'local-store')
      await mkdir(dir, { recursive: true })
      return openEmbeddedStore(dir)
    }
    const credentials = await this.profiles.credentials(profile)
    const report = await this.checkCredentials(credentials)
    if (!report.ok) {
      const failed = report.checks.filter((check) => !check.ok).map((check) => check.message)
      throw new ServiceUnavailableError(`Cannot switch to "${profile.name}": ${failed.join(' ')}`, report)
    }
    return openPostgresStore({
      connectionString: credentials.postgresUrl,
      password: credentials.postgresPassword,
    })
  }

  /** The embedded store migrates itself; a team database is migrated by an operator (`aether migrate`). */
  private async prepareSchema(profile: Profile, store: Store): Promise<string | null> {
    if (profile.kind === 'local') return (await migrateToLatest(store)).schemaVersion
    return (await schemaState(store)).current
  }

  async migrate(): Promise<MigrationResult> {
    const store = this.requireStore()
    const result = await migrateToLatest(store)
    this.publish({ ...this.current, store: { ...this.current.store, schemaVersion: result.schemaVersion } })
    return result
  }

  requireStore(): Store {
    if (this.store === undefined) throw new ServiceUnavailableError('The store is not open yet.')
    return this.store
  }

  storeMode(): AppMode {
    return this.storeProfile?.kind ?? 'local'
  }

  onStoreSwitch(listener: () => void): () => void {
    this.events.on('store', listener)
    return () => this.events.off('store', listener)
  }

  /** The active Team profile's Redis: where a transaction typed in by an analyst goes. */
  async teamRedis(): Promise<RedisConnection> {
    // Read afresh: the profile's URLs may have been edited since it was opened.
    const profile = this.storeProfile && (await this.profiles.get(this.storeProfile.id))
    if (profile?.kind !== 'team')
      throw new ServiceUnavailableError('The active profile is not a Team profile.')
    const credentials = await this.profiles.credentials(profile)
    return { url: credentials.redisUrl, password: credentials.redisPassword }
  }

  async testProfile(id: string): Promise<ConnectionReport> {
    const profile = await this.profiles.get(id)
    if (profile.kind === 'local')
      return {
        ok: true,
        checks: [{ service: 'postgres', ok: true, message: 'The embedded store is built in.', millis: 0 }],
      }
    return this.checkCredentials(await this.credentialsOf(profile))
  }

  /**
   * Deleting the profile in use first moves the app back to the Local profile. It waits for a switch in
   * flight, which may be to this very profile: checked before it ended, the profile was deleted under
   * the switch, which failed half done (the deleted team's store in use, the old one never closed).
   */
  removeProfile(id: string) {
    const removal = this.switching.then(async () => {
      if (this.current.profileId === id) await this.switchTo(LOCAL_PROFILE_ID)
      return this.profiles.remove(id)
    })
    this.switching = removal.catch(() => {})
    return removal
  }

  async testDraft(draft: TeamProfileDraft, existingId?: string): Promise<ConnectionReport> {
    return this.checkCredentials(await this.profiles.draftCredentials(draft, existingId))
  }

  private async credentialsOf(profile: TeamProfile): Promise<TeamCredentials> {
    try {
      return await this.profiles.credentials(profile)
    } catch (error) {
      if (error instanceof KeychainUnavailableError) throw new ServiceUnavailableError(error.message)
      throw error
    }
  }

  private async checkCredentials(credentials: TeamCredentials): Promise<ConnectionReport> {
    const checks = await Promise.all([checkPostgres(credentials), checkRedis(credentials)])
    return { ok: checks.every((check) => check.ok), checks }
  }

  async close(): Promise<void> {
    await this.switching
    await this.pipeline.stop()
    await this.datasets.close()
    await this.sentinel?.close()
    const store = this.store
    this.store = undefined
    this.storeProfile = undefined
    this.events.emit('store')
    await store?.close()
    this.events.removeAllListeners()
  }
}
