/**
 * The fraud scoring core: pure and deterministic, no I/O. The streaming pipeline scores each user's
 * transactions in order with scoreTransaction, keeping UserState per user (stored between batches and
 * owners in state-codec.ts's compact form); the DuckDB backtest compiles the same RuleSet to SQL (src/main/analysis/rules-sql.ts).
 */
export { emptyUserState, MEMORY, type Features, type UserState } from './features'
export {
  packedStateMember,
  packedStatesJson,
  packUserState,
  unpackUserState,
  StoredStateError,
  type PackedUserState,
} from './state-codec'
export { createListMatcher, type ListEntry, type ListMatcher } from './lists'
export { MODEL_VERSION, replayTransaction, scoreTransaction, type ScoredTransaction } from './score'
export {
  FRAUD_PATTERNS,
  GENERATOR_BLOCKLIST,
  generateTraffic,
  generateTransactions,
  type FraudPattern,
  type GeneratedTransaction,
  type TrafficOptions,
} from './generator'
