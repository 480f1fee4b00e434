import type { ColumnType, Generated, Kysely } from 'kysely'
import type { Store } from '../store/store'

/** The tables triage reads and writes, as Kysely sees them (migrations 0001 and 0004). */

type Timestamp = ColumnType<Date, Date | string, Date | string>
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
}

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
  id: Generated<number>
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
  id: Generated<number>
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
  id: Generated<number>
  case_id: number
  actor: Generated<string>
  action: string
  before: Json | null
  after: Json | null
  note: string | null
  at: Generated<Date>
}

export interface AnalystsTable {
  id: Generated<number>
  login: string
  display_name: string
  role: string
  disabled_at: Date | null
  created_at: Generated<Date>
}

export interface RulesTable {
  version: number
  definition: Json
  author: Generated<string>
  comment: string
  created_at: Generated<Date>
}

export interface ListsTable {
  id: Generated<number>
  kind: string
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
  updated_by: Generated<string>
  updated_at: Timestamp
}

export interface WebhookDeliveriesTable {
  alert_id: number
  claimed_by: Generated<string>
  claimed_at: Generated<Date>
  status: number | null
  error: string | null
}

export interface TriageDatabase {
  transactions: TransactionsTable
  scores: ScoresTable
  alerts: AlertsTable
  cases: CasesTable
  case_events: CaseEventsTable
  analysts: AnalystsTable
  rules: RulesTable
  lists: ListsTable
  labels: LabelsTable
  triage_settings: TriageSettingsTable
  webhook_deliveries: WebhookDeliveriesTable
}

export type TriageDb = Kysely<TriageDatabase>

export const triageDb = (store: Store): TriageDb => store.db as TriageDb

/** Timestamps cross the contract as ISO strings. */
export const iso = (value: Date | string): string =>
  (value instanceof Date ? value : new Date(value)).toISOString()
export const isoOrNull = (value: Date | string | null): string | null => (value === null ? null : iso(value))
