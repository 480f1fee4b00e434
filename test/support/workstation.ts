import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Workstation } from '../../src/main/core/workstation'
import { KeychainSecrets } from '../../src/main/secrets/keychain'
import { uniqueName } from './services'

// Local mode replays the bundled PaySim sample in the background; tests that count rows want a quiet store.
process.env.AETHER_SAMPLE_REPLAY ??= 'off'

export interface TestWorkstation {
  workstation: Workstation
  dataDir: string
  keychainService: string
  secrets: KeychainSecrets
  dispose(): Promise<void>
}

/**
 * A workstation on a fresh user-data folder and its own keychain service name, so tests never see
 * each other's profiles or a user's real keychain entries.
 */
export async function openTestWorkstation(): Promise<TestWorkstation> {
  const dataDir = await mkdtemp(join(tmpdir(), 'aether-test-'))
  const keychainService = uniqueName('aether-test')
  const secrets = new KeychainSecrets(keychainService)
  const workstation = new Workstation({ dataDir, secrets, version: 'test' })
  return {
    workstation,
    dataDir,
    keychainService,
    secrets,
    dispose: async () => {
      await workstation.close()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}
