import type { ColumnType, Generated, GeneratedAlways, Kysely } from 'kysely'
import type { ListKind } from '../../shared/rules'

/**
 * The store's tables as Kysely sees them, as migrations 0001 to 0008 leave them (0007 adds roles, no
 * tables). numeric stays a string so money is never a float; bigint is a number (store.ts parses int8).
 * test/integration/store-schema.test.ts holds this to the migrated database.
 */

type Timestamp = ColumnType<Date, Date | string, Date | string>
/** json and jsonb come back parsed and go in as JSON text. */
type Json = ColumnType<unknown, string, string>

export interface TransactionsTable {
  txn_id: string
  ts: Timestamp
  user_id: string
  counterparty_id: string
  type: string
  amount: string
  currency: string
  merchant_type: string | null
  source_ip: string | null
  device_id: string | null
  balance_before: string | null
  balance_after: string | null
  cp_balance_before: string | null
  cp_balance_after: string | null
  label: boolean | null
  ingested_at: Generated<Date>
  /** The Decision API key that sent it (0009), from the stream entry's `api_key` field; null otherwise. */
  api_key_id: number | null
  /** Its score (0015): all five null on a transaction stored without one. */
  score: number | null
  decision: string | null
  reasons: Json | null
  model_version: string | null
  rules_version: number | null
}

/** A view (0015): the scored transactions' score columns, scored_at being their ingested_at. */
export interface ScoresTable {
  txn_id: string
  score: number
  decision: string
  reasons: Json
  model_version: string
  rules_version: number
  scored_at: Generated<Date>
}

export interface AlertsTable {
  id: GeneratedAlways<number>
  txn_id: string
  case_id: number | null
  score: number
  decision: string
  reasons: Json
  created_at: Generated<Date>
  ts: Date | null
  user_id: string | null
  amount: string | null
}

export interface CasesTable {
  id: GeneratedAlways<number>
  user_id: string
  status: string
  outcome: string | null
  priority: string
  assignee_id: number | null
  due_at: Date | null
  version: number
  opened_at: Generated<Date>
  updated_at: Timestamp
  closed_at: Timestamp | null
  max_score: number
  amount_at_risk: string
  alert_count: number
  last_alert_at: Date | null
  updated_by: Generated<string>
}

export interface CaseEventsTable {
  id: GeneratedAlways<number>
  case_id: number
  actor: Generated<string>
  action: string
  before: Json | null
  after: Json | null
  note: string | null
  at: Generated<Date>
}

export interface AnalystsTable {
  id: GeneratedAlways<number>
  login: string
  display_name: string
  role: string
  disabled_at: Date | null
  created_at: Generated<Date>
  /** May run a pipeline worker with the analyst's login (0002). */
  ingests: Generated<boolean>
}

export interface RulesTable {
  version: number
  definition: Json
  author: Generated<string>
  comment: string
  created_at: Generated<Date>
}

export interface ListsTable {
  id: GeneratedAlways<number>
  kind: ListKind
  value: string
  network: string | null
  reason: string
  created_by: Generated<string>
  created_at: Generated<Date>
  expires_at: Timestamp | null
}

export interface LabelsTable {
  txn_id: string
  case_id: number
  outcome: string
  labelled_by: Generated<string>
  labelled_at: Generated<Date>
}

export interface TriageSettingsTable {
  key: string
  value: string
  /** Stamped by the store (triage_settings_actor), whatever a writer sends. */
  updated_by: Generated<string>
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>
}

/** 0022: alerts stored while another session held their case locked, until they join it. */
export interface AlertCaseWaitsTable {
  alert_id: number
  user_id: string
  since: Generated<Date>
}

export interface WebhookDeliveriesTable {
  alert_id: number
  claimed_by: Generated<string>
  claimed_at: Generated<Date>
  status: number | null
  error: string | null
  /** 0011: the headless poster's retries, lease and sent mark. */
  attempts: Generated<number>
  next_attempt_at: Generated<Date>
  lease_holder: string | null
  lease_until: Date | null
  sent_at: Date | null
}

/** Written by triggers (0002), read by supervisors. */
export interface AuditLogTable {
  id: GeneratedAlways<number>
  at: Generated<Date>
  actor: Generated<string>
  entity: string
  entity_id: string | null
  case_id: number | null
  action: string
  before: Json | null
  after: Json | null
}

/** Each user's feature state, as JSON: read back as the object. */
export interface UserFeaturesTable {
  user_id: string
  state: Json
  model_version: string
  updated_at: Generated<Date>
}

/** The pipeline's fences: a batch commits only while its epoch is its partition's. */
export interface PipelinePartitionsTable {
  source: string
  partition: number
  epoch: Generated<number>
  owner: string | null
  position: string | null
  updated_at: Generated<Date>
  /** States are current up to here (0017); null: up to position. */
  state_position: string | null
  /** When the states were last current: rows stored after it and after state_position are replayed. */
  state_at: Generated<Date>
}

/** Decision API keys (0008): only the SHA-256 of the secret is kept. */
export interface ApiKeysTable {
  id: GeneratedAlways<number>
  name: string
  hash: Buffer
  scopes: string[]
  created_by: Generated<string>
  created_at: Generated<Date>
  revoked_at: Date | null
  last_used_at: Date | null
}

/** What analysts may read of the keys (0012, a view): which key sent a transaction, by name. */
export interface ApiKeyNamesView {
  id: number
  name: string
  revoked: boolean
}

export interface Database {
  transactions: TransactionsTable
  scores: ScoresTable
  alerts: AlertsTable
  alert_case_waits: AlertCaseWaitsTable
  cases: CasesTable
  case_events: CaseEventsTable
  analysts: AnalystsTable
  rules: RulesTable
  lists: ListsTable
  labels: LabelsTable
  triage_settings: TriageSettingsTable
  webhook_deliveries: WebhookDeliveriesTable
  audit_log: AuditLogTable
  user_features: UserFeaturesTable
  pipeline_partitions: PipelinePartitionsTable
  api_keys: ApiKeysTable
  api_key_names: ApiKeyNamesView
}

export type StoreDb = Kysely<Database>
