/**
 * The breakdown of `npm run bench:ingest` (issue 13: where a goal is out of reach, what shows why): the
 * PostgreSQL side of a big batch's commit, statement by statement. The first `count` generated
 * transactions (the bench's own seed) are scored in this process as a worker scores them, then written
 * in batches of 500 on one connection with the pipeline's COPY path statements (sink.ts, COPY_PATH): the
 * fences, the transactions with their scores (the raw ceiling writes the same columns), the alerts, the users' states
 * (their stored form, state-codec.ts) and COMMIT, the fences counted with COMMIT. Each statement's wall time per transaction,
 * from the client: on a quiet machine, the backend's work on it (COMMIT adds its WAL flush). The tables
 * are emptied afterwards.
 */
import { finished } from 'node:stream/promises'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import {
  ALERT_COLUMNS,
  columnArrays,
  copyText,
  STORED_TRANSACTION_COLUMNS,
} from '../src/main/pipeline/sink-columns'
import { COPY_PATH, fenceParameters, type ScoredRow } from '../src/main/pipeline/sink'
import {
  createListMatcher,
  emptyUserState,
  MODEL_VERSION,
  packedStatesJson,
  scoreTransaction,
  type UserState,
} from '../src/main/scoring'
import { GENERATOR_BLOCKLIST, generateTraffic } from '../src/main/scoring/generator'
import { DEFAULT_RULES } from '../src/shared/rules'

const BATCH = 500
const SOURCE = 'bench-breakdown'
type Step = 'transactions' | 'alerts' | 'states' | 'commit'
export type Breakdown = Record<Step, number> & { stateBytes: number }

export async function runBreakdown(options: { databaseUrl: string; count: number }): Promise<Breakdown> {
  const lists = createListMatcher([...GENERATOR_BLOCKLIST])
  const traffic = generateTraffic({ seed: 42 })
  const live = new Map<string, UserState>()
  const batches: { rows: ScoredRow[]; states: string }[] = []
  for (let i = 0; i < options.count; i += BATCH) {
    const rows: ScoredRow[] = []
    const touched = new Map<string, UserState>()
    for (let k = i; k < Math.min(options.count, i + BATCH); k++) {
      const { txn } = traffic.next().value
      let state = live.get(txn.user_id)
      if (state === undefined) live.set(txn.user_id, (state = emptyUserState()))
      rows.push({ txn, score: scoreTransaction(txn, state, DEFAULT_RULES, lists).score })
      touched.set(txn.user_id, state)
    }
    batches.push({ rows, states: packedStatesJson(touched) })
  }

  const client = new pg.Client({ connectionString: options.databaseUrl, application_name: 'aether-bench' })
  await client.connect()
  const copy = async (statement: string, text: string) => {
    const stream = client.query(copyFrom(statement))
    stream.end(text)
    await finished(stream)
  }
  const spent: Record<Step, number> = {
    transactions: 0,
    alerts: 0,
    states: 0,
    commit: 0,
  }
  let stateBytes = 0
  try {
    await client.query(
      `INSERT INTO pipeline_partitions (source, partition, epoch, owner) VALUES ($1, 0, 1, 'bench')`,
      [SOURCE],
    )
    for (const [index, { rows, states }] of batches.entries()) {
      const timed = async (step: Step, work: () => Promise<unknown>) => {
        const started = performance.now()
        await work()
        spent[step] += performance.now() - started
      }
      stateBytes += states.length
      await client.query('BEGIN')
      const fences = [{ partition: 0, epoch: 1, position: String(index) }]
      await timed('commit', () => client.query(COPY_PATH.fence, fenceParameters(fences, SOURCE)))
      await timed('transactions', () =>
        copy(COPY_PATH.transactions, copyText(STORED_TRANSACTION_COLUMNS, rows)),
      )
      const alerted = rows.filter((row) => row.score.decision !== 'approve')
      if (alerted.length > 0)
        await timed('alerts', () => client.query(COPY_PATH.alerts, columnArrays(ALERT_COLUMNS, alerted)))
      await timed('states', () => client.query(COPY_PATH.states, [states, MODEL_VERSION]))
      await timed('commit', () => client.query('COMMIT'))
    }
    await client.query(
      'TRUNCATE transactions, alerts, cases, case_events, user_features, pipeline_partitions CASCADE',
    )
  } finally {
    await client.end()
  }
  const perTransaction = (ms: number) => (ms * 1000) / options.count
  return {
    transactions: perTransaction(spent.transactions),
    alerts: perTransaction(spent.alerts),
    states: perTransaction(spent.states),
    commit: perTransaction(spent.commit),
    stateBytes: stateBytes / options.count,
  }
}
