import type { Migration } from 'kysely'
import * as initial from './0001_initial'
import * as rolesAndAudit from './0002_roles_and_audit'
import * as pipeline from './0003_pipeline'
import * as triage from './0004_triage'
import * as ingestWritePath from './0005_ingest_write_path'
import * as scoringNotify from './0006_scoring_notify'
import * as teamDatabaseRoles from './0007_team_database_roles'
import * as apiKeys from './0008_api_keys'
import * as transactionApiKey from './0009_transaction_api_key'
import * as ingestPath from './0010_ingest_path'
import * as webhookDelivery from './0011_webhook_delivery'
import * as apiKeyNames from './0012_api_key_names'
import * as analystSearch from './0013_analyst_search'
import * as pipelineCommit from './0014_pipeline_commit'
import * as scoreOnTransaction from './0015_score_on_transaction'
import * as stateCompression from './0016_state_compression'
import * as stateCheckpoints from './0017_state_checkpoints'
import * as caseTotals from './0018_case_totals'
import * as triageGuards from './0019_triage_guards'
import * as caseEventTruth from './0020_case_event_truth'
import * as webhookSecret from './0021_webhook_secret'
import * as caseLockWaits from './0022_case_lock_waits'
import * as adminClearsWebhook from './0023_admin_clears_webhook'
import * as workerGroup from './0024_worker_group'
import * as workerLockTimeout from './0025_worker_lock_timeout'

/**
 * Every migration, in order. Imported statically so the bundle carries them; names sort in
 * applying order, and a name once released never changes.
 */
export const migrations: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_roles_and_audit': rolesAndAudit,
  '0003_pipeline': pipeline,
  '0004_triage': triage,
  '0005_ingest_write_path': ingestWritePath,
  '0006_scoring_notify': scoringNotify,
  '0007_team_database_roles': teamDatabaseRoles,
  '0008_api_keys': apiKeys,
  '0009_transaction_api_key': transactionApiKey,
  '0010_ingest_path': ingestPath,
  '0011_webhook_delivery': webhookDelivery,
  '0012_api_key_names': apiKeyNames,
  '0013_analyst_search': analystSearch,
  '0014_pipeline_commit': pipelineCommit,
  '0015_score_on_transaction': scoreOnTransaction,
  '0016_state_compression': stateCompression,
  '0017_state_checkpoints': stateCheckpoints,
  '0018_case_totals': caseTotals,
  '0019_triage_guards': triageGuards,
  '0020_case_event_truth': caseEventTruth,
  '0021_webhook_secret': webhookSecret,
  '0022_case_lock_waits': caseLockWaits,
  '0023_admin_clears_webhook': adminClearsWebhook,
  '0024_worker_group': workerGroup,
  '0025_worker_lock_timeout': workerLockTimeout,
}

export const latestMigration = Object.keys(migrations).sort().at(-1) ?? ''
