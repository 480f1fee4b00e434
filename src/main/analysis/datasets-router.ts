import { implement } from '@orpc/server'
import { datasetsContract } from '../../shared/datasets-contract'
import type { RuleSet } from '../../shared/rules'
import type { DatasetsService } from './datasets-service'

const os = implement(datasetsContract)

export interface DatasetsRouterDeps {
  datasets: DatasetsService
  /**
   * Publishes a backtested rule set as the next version in the active store. Given by the composition
   * root: the rule history belongs to triage, which analysis does not import.
   */
  publishRules(ruleSet: RuleSet, comment: string, baseVersion?: number): Promise<{ version: number }>
}

/**
 * Offline datasets. What a handler throws reaches the UI through the router's one error model
 * (core/contract-errors.ts): the refusals of ./errors as typed errors, anything else as a sentence.
 */
export function createDatasetsRouter({ datasets, publishRules }: DatasetsRouterDeps) {
  return os.router({
    list: os.list.handler(() => datasets.list()),
    open: os.open.handler(({ input, signal }) => datasets.open(input, signal)),
    openSample: os.openSample.handler(({ signal }) => datasets.openSample(signal)),
    cancelImport: os.cancelImport.handler(({ input }) => datasets.cancelImport(input.importId)),
    remove: os.remove.handler(({ input }) => datasets.remove(input.id)),
    quality: os.quality.handler(({ input }) => datasets.quality(input.id)),
    rows: os.rows.handler(({ input, signal }) => datasets.rows(input, signal)),
    groups: os.groups.handler(({ input, signal }) => datasets.groups(input, signal)),
    analysis: os.analysis.handler(({ input }) => datasets.analysis(input.datasetId, input.analysis)),
    sql: os.sql.handler(({ input, signal }) => datasets.sqlWithProgress(input.datasetId, input.sql, signal)),
    export: os.export.handler(({ input }) => datasets.export(input)),
    backtest: os.backtest.handler(({ input, signal }) => datasets.backtestWithProgress(input, signal)),
    cancelRun: os.cancelRun.handler(({ input }) => datasets.cancelRun(input.runId)),
    publishRules: os.publishRules.handler(({ input }) =>
      publishRules(input.ruleSet, input.comment, input.baseVersion),
    ),
  })
}
