import { contractErrors } from '../core/contract-errors'
import { implement } from '@orpc/server'
import type { Analyst } from '../../shared/triage-contract'
import { triageContract } from '../../shared/triage-contract'
import { ServiceUnavailableError, type Workstation } from '../core/workstation'
import type { Store } from '../store/store'
import { currentAnalyst, listAnalysts } from './analysts'
import { addNote, assignCase, bulkCases, caseDetail, caseQueue, nextCase, transitionCase } from './cases'
import { dashboard } from './dashboard'
import { triageDb } from './db'
import { TriageConflictError, TriageForbiddenError, TriageInvalidError, TriageNotFoundError } from './errors'
import { addListEntry, listEntries, removeListEntry, updateListEntry } from './lists'
import { liveFeed } from './live'
import { revertRules, rulePrecision, ruleVersions, saveRules } from './rules'
import { submitTransaction } from './submit'
import { exportCsv, transactionDetail, transactionPage } from './transactions'
import { setWebhook, webhookSetting } from './webhook'

const os = implement(triageContract)

const { guarded, raise: asContractError } = contractErrors('triage', (error) => {
  if (error instanceof TriageNotFoundError) return 'NOT_FOUND'
  if (error instanceof TriageConflictError) return 'CONFLICT'
  if (error instanceof TriageForbiddenError) return 'FORBIDDEN'
  if (error instanceof TriageInvalidError) return 'BAD_REQUEST'
  if (error instanceof ServiceUnavailableError) return 'UNAVAILABLE'
  return undefined
})

const isCurrent = (workstation: Workstation, store: Store) => {
  try {
    return workstation.requireStore() === store
  } catch {
    return false
  }
}

/** The signed-in analyst of each open store, looked up once. */
const analystsByStore = new WeakMap<Store, Promise<Analyst>>()

export function createTriageRouter(workstation: Workstation) {
  const db = () => triageDb(workstation.requireStore())
  const me = () => {
    const store = workstation.requireStore()
    let analyst = analystsByStore.get(store)
    if (analyst === undefined) {
      analyst = currentAnalyst(triageDb(store), workstation.status().mode)
      analystsByStore.set(store, analyst)
      analyst.catch(() => analystsByStore.delete(store))
    }
    return analyst
  }

  return os.router({
    me: os.me.handler(guarded(() => me())),
    analysts: os.analysts.handler(guarded(() => listAnalysts(db()))),
    // The stream belongs to the store it started on: a profile switch ends it, and the client follows
    // the new store by subscribing again.
    live: os.live.handler(async function* ({ signal }) {
      const store = workstation.requireStore()
      const ended = new AbortController()
      const end = () => ended.abort()
      signal?.addEventListener('abort', end, { once: true })
      void (async () => {
        for await (const status of workstation.watchStatus(ended.signal))
          if (status.state !== 'starting' && !isCurrent(workstation, store)) return end()
      })().catch(end)
      try {
        yield* liveFeed(store).follow(ended.signal)
      } catch (error) {
        asContractError(error)
      } finally {
        signal?.removeEventListener('abort', end)
        end()
      }
    }),
    transactions: {
      page: os.transactions.page.handler(guarded(({ input }) => transactionPage(db(), input))),
      detail: os.transactions.detail.handler(guarded(({ input }) => transactionDetail(db(), input.txnId))),
      exportCsv: os.transactions.exportCsv.handler(async function* ({ input, signal }) {
        try {
          yield* exportCsv(db(), input, signal)
        } catch (error) {
          asContractError(error)
        }
      }),
      submit: os.transactions.submit.handler(guarded(({ input }) => submitTransaction(workstation, input))),
    },
    cases: {
      queue: os.cases.queue.handler(guarded(async ({ input }) => caseQueue(db(), await me(), input))),
      get: os.cases.get.handler(guarded(({ input }) => caseDetail(db(), input.id))),
      next: os.cases.next.handler(guarded(async () => nextCase(db(), await me()))),
      assign: os.cases.assign.handler(guarded(async ({ input }) => assignCase(db(), await me(), input))),
      transition: os.cases.transition.handler(
        guarded(async ({ input }) => transitionCase(db(), await me(), input)),
      ),
      note: os.cases.note.handler(guarded(({ input }) => addNote(db(), input.id, input.text))),
      bulk: os.cases.bulk.handler(guarded(async ({ input }) => bulkCases(db(), await me(), input))),
    },
    lists: {
      list: os.lists.list.handler(guarded(({ input }) => listEntries(db(), input))),
      add: os.lists.add.handler(guarded(({ input }) => addListEntry(db(), input))),
      update: os.lists.update.handler(guarded(({ input }) => updateListEntry(db(), input))),
      remove: os.lists.remove.handler(guarded(({ input }) => removeListEntry(db(), input.id))),
    },
    rules: {
      versions: os.rules.versions.handler(guarded(() => ruleVersions(db()))),
      save: os.rules.save.handler(guarded(({ input }) => saveRules(db(), input))),
      revert: os.rules.revert.handler(guarded(({ input }) => revertRules(db(), input))),
      precision: os.rules.precision.handler(guarded(() => rulePrecision(db()))),
    },
    dashboard: os.dashboard.handler(guarded(({ input }) => dashboard(db(), input.range))),
    settings: {
      webhook: os.settings.webhook.handler(guarded(() => webhookSetting(db()))),
      setWebhook: os.settings.setWebhook.handler(guarded(({ input }) => setWebhook(db(), input))),
    },
  })
}
