import type { AppMode } from '../../shared/contract'
import type { Store } from './store'

/**
 * What a feature may know of the active profile: its store, the mode it serves, and when it stops being
 * the active one. Features take this from the composition root, never the Workstation itself.
 */
export interface StoreScope {
  /** The active store; a ServiceUnavailableError while none is open. */
  requireStore(): Store
  /** The mode of the profile whose store requireStore() returns. */
  storeMode(): AppMode
  /**
   * Calls `listener` each time the active store stops being the active one (a profile switch, closing),
   * before anyone can be given the next. Returns the unsubscribe.
   */
  onStoreSwitch(listener: () => void): () => void
}
