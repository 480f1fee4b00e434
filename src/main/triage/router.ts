import { implement } from '@orpc/server'
import type { RuleSet } from '../../shared/rules'
import type { Analyst } from '../../shared/triage-contract'
import { triageContract } from '../../shared/triage-contract'
import type { StoreScope } from '../store/scope'
import { currentAnalyst, listAnalysts } from './analysts'
import { addNote, assignCase, bulkCases, caseDetail, caseQueue, nextCase, transitionCase } from './cases'
import { dashboard } from './dashboard'
import { addListEntry, listEntries, removeListEntry, updateListEntry } from './lists'
import { liveFeed } from './live'
import { revertRules, rulePrecision, ruleVersions, saveRules } from './rules'
import { submitTransaction, type SubmitScope } from './submit'
import { TriageConflictError } from './errors'
import { exportCsv, transactionDetail, transactionPage } from './transactions'
import { setWebhook, webhookSetting } from './webhook'

const os = implement(triageContract)

/**
 * Triage over the active store. What a handler throws reaches the UI through the router's one error
 * model (core/contract-errors.ts): the refusals of ./errors as typed errors, anything else as a sentence.
 */
export function createTriageRouter(scope: SubmitScope) {
  const db = () => scope.requireStore().db

  // The signed-in analyst, looked up once per store: a switch forgets them.
  let analyst: Promise<Analyst> | undefined
  scope.onStoreSwitch(() => (analyst = undefined))
  const me = () => {
    if (analyst === undefined) {
      const lookup = currentAnalyst(db(), scope.storeMode())
      analyst = lookup
      lookup.catch(() => {
        if (analyst === lookup) analyst = undefined
      })
    }
    return analyst
  }

  return os.router({
    me: os.me.handler(() => me()),
    analysts: os.analysts.handler(() => listAnalysts(db())),
    // The stream belongs to the store it started on: a profile switch ends it, and the client follows
    // the new store by subscribing again.
    live: os.live.handler(async function* ({ signal }) {
      const store = scope.requireStore()
      const ended = new AbortController()
      const end = () => ended.abort()
      signal?.addEventListener('abort', end, { once: true })
      const unsubscribe = scope.onStoreSwitch(end)
      try {
        yield* liveFeed(store).follow(ended.signal)
      } finally {
        unsubscribe()
        signal?.removeEventListener('abort', end)
        end()
      }
    }),
    transactions: {
      page: os.transactions.page.handler(({ input }) => transactionPage(db(), input)),
      detail: os.transactions.detail.handler(({ input }) => transactionDetail(db(), input.txnId)),
      exportCsv: os.transactions.exportCsv.handler(({ input, signal }) => exportCsv(db(), input, signal)),
      submit: os.transactions.submit.handler(({ input }) => submitTransaction(scope, input)),
    },
    cases: {
      queue: os.cases.queue.handler(async ({ input }) => caseQueue(db(), await me(), input)),
      get: os.cases.get.handler(({ input }) => caseDetail(db(), input.id)),
      next: os.cases.next.handler(async () => nextCase(db(), await me())),
      assign: os.cases.assign.handler(async ({ input }) => assignCase(db(), await me(), input)),
      transition: os.cases.transition.handler(async ({ input }) => transitionCase(db(), await me(), input)),
      note: os.cases.note.handler(({ input }) => addNote(db(), input.id, input.text)),
      bulk: os.cases.bulk.handler(async ({ input }) => bulkCases(db(), await me(), input)),
    },
    lists: {
      list: os.lists.list.handler(({ input }) => listEntries(db(), input)),
      add: os.lists.add.handler(({ input }) => addListEntry(db(), input)),
      update: os.lists.update.handler(({ input }) => updateListEntry(db(), input)),
      remove: os.lists.remove.handler(({ input }) => removeListEntry(db(), input.id)),
    },
    rules: {
      versions: os.rules.versions.handler(() => ruleVersions(db())),
      save: os.rules.save.handler(({ input }) => saveRules(db(), input)),
      revert: os.rules.revert.handler(({ input }) => revertRules(db(), input)),
      precision: os.rules.precision.handler(() => rulePrecision(db())),
    },
    dashboard: os.dashboard.handler(({ input }) => dashboard(db(), input.range)),
    settings: {
      webhook: os.settings.webhook.handler(() => webhookSetting(db())),
      setWebhook: os.settings.setWebhook.handler(({ input }) => setWebhook(db(), input)),
    },
  })
}

/**
 * Publishes a rule set as the next version in the active store, through the same path as a save on the
 * Rules page (validation, history, the database's permissions). Handed to analysis by the composition
 * root, so a backtest can publish without analysis knowing triage.
 */
export const rulePublisher =
  (scope: StoreScope) =>
  async (ruleSet: RuleSet, comment: string, baseVersion?: number): Promise<{ version: number }> => {
    const db = scope.requireStore().db
    const [latest] = await ruleVersions(db)
    // B was copied while another version was in force: publishing it would undo what was saved since.
    if (baseVersion !== undefined && latest !== undefined && latest.version !== baseVersion)
      throw new TriageConflictError(
        `Not published: rules version ${latest.version} was saved after B was copied from version ` +
          `${baseVersion}, and publishing B would undo it. Compare against version ${latest.version} first.`,
      )
    const saved = await saveRules(db, {
      baseVersion: baseVersion ?? latest?.version ?? null,
      definition: ruleSet,
      comment: comment || `Published from a backtest (was version ${ruleSet.version})`,
    })
    return { version: saved.version }
  }
