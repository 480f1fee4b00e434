import { AsyncEntry } from '@napi-rs/keyring'
import { Refusal } from '../errors'

/** Where secrets live. The only implementation the app ships is the OS keychain. */
export interface SecretStore {
  get(account: string): Promise<string | null>
  set(account: string, secret: string): Promise<void>
  delete(account: string): Promise<void>
}

export class KeychainUnavailableError extends Refusal {
  constructor(cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    super(
      'UNAVAILABLE',
      `The OS keychain is not available (${reason}). On Linux, a Secret Service keyring such as ` +
        'GNOME Keyring or KWallet must be running and unlocked.',
    )
    this.name = 'KeychainUnavailableError'
  }
}

/**
 * Secrets in the OS keychain (macOS Keychain, Windows Credential Manager, Linux Secret Service).
 * `service` names the app in the keychain; tests pass their own so they never touch a user's entries.
 */
export class KeychainSecrets implements SecretStore {
  constructor(private readonly service = 'aether-workstation') {}

  private entry(account: string) {
    return new AsyncEntry(this.service, account)
  }

  async get(account: string): Promise<string | null> {
    try {
      return await this.entry(account).getPassword()
    } catch (error) {
      throw new KeychainUnavailableError(error)
    }
  }

  async set(account: string, secret: string): Promise<void> {
    try {
      await this.entry(account).setPassword(secret)
    } catch (error) {
      throw new KeychainUnavailableError(error)
    }
  }

  async delete(account: string): Promise<void> {
    try {
      await this.entry(account).deleteCredential()
    } catch (error) {
      throw new KeychainUnavailableError(error)
    }
  }
}
