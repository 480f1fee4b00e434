import { contractErrors } from '../core/contract-errors'
import { implement } from '@orpc/server'
import { datasetsContract } from '../../shared/datasets-contract'
import type { RuleSet } from '../../shared/rules'
import { ServiceUnavailableError, type Workstation } from '../core/workstation'
import { triageDb } from '../triage/db'
import {
  TriageConflictError,
  TriageForbiddenError,
  TriageInvalidError,
  TriageNotFoundError,
} from '../triage/errors'
import { ruleVersions, saveRules } from '../triage/rules'
import { DatasetConflictError, DatasetNotFoundError } from './errors'
import { UnknownColumnError } from './grid-sql'

const os = implement(datasetsContract)

const { guarded, guardedStream } = contractErrors('datasets', (error) => {
  if (
    error instanceof DatasetNotFoundError ||
    error instanceof UnknownColumnError ||
    error instanceof TriageNotFoundError
  )
    return 'NOT_FOUND'
  if (error instanceof DatasetConflictError || error instanceof TriageConflictError) return 'CONFLICT'
  if (error instanceof TriageForbiddenError) return 'FORBIDDEN'
  if (error instanceof TriageInvalidError) return 'BAD_REQUEST'
  if (error instanceof ServiceUnavailableError) return 'UNAVAILABLE'
  return undefined
})

/**
 * Publishes a rule set as the next version in the active profile's store, through the same path as a save
 * on the Rules page (triage/rules.ts: validation, history, the database's permissions).
 */
async function publishRules(workstation: Workstation, ruleSet: RuleSet, comment: string) {
  const db = triageDb(workstation.requireStore())
  const [latest] = await ruleVersions(db)
  const saved = await saveRules(db, {
    baseVersion: latest?.version ?? null,
    definition: ruleSet,
    comment: comment || `Published from a backtest (was version ${ruleSet.version})`,
  })
  return { version: saved.version }
}

export function createDatasetsRouter(workstation: Workstation) {
  const datasets = workstation.datasets
  return os.router({
    list: os.list.handler(guarded(() => datasets.list())),
    open: os.open.handler(({ input, signal }) => guardedStream(datasets.open(input, signal))),
    openSample: os.openSample.handler(({ signal }) => guardedStream(datasets.openSample(signal))),
    cancelImport: os.cancelImport.handler(({ input }) => datasets.cancelImport(input.importId)),
    remove: os.remove.handler(guarded(({ input }) => datasets.remove(input.id))),
    quality: os.quality.handler(guarded(({ input }) => datasets.quality(input.id))),
    rows: os.rows.handler(guarded(({ input, signal }) => datasets.rows(input, signal))),
    groups: os.groups.handler(guarded(({ input, signal }) => datasets.groups(input, signal))),
    analysis: os.analysis.handler(guarded(({ input }) => datasets.analysis(input.datasetId, input.analysis))),
    sql: os.sql.handler(({ input, signal }) =>
      guardedStream(datasets.sqlWithProgress(input.datasetId, input.sql, signal)),
    ),
    export: os.export.handler(guarded(({ input }) => datasets.export(input))),
    backtest: os.backtest.handler(({ input, signal }) =>
      guardedStream(datasets.backtestWithProgress(input, signal)),
    ),
    cancelRun: os.cancelRun.handler(({ input }) => datasets.cancelRun(input.runId)),
    publishRules: os.publishRules.handler(
      guarded(({ input }) => publishRules(workstation, input.ruleSet, input.comment)),
    ),
  })
}
