/**
 * The breakdown of `npm run bench:ingest` (issue 13: where a goal is out of reach, what shows why): the
 * PostgreSQL side of a big batch's commit, statement by statement. The first `count` generated
 * transactions (the bench's own seed) are scored in this process as a worker scores them, then written
 * in batches of 500 on one connection the way the pipeline's COPY path writes them (sink.ts): the
 * transactions (what the raw ceiling writes too), their scores, the alerts, the users' states (their
 * stored form, state-codec.ts), then the fences and COMMIT. Each statement's wall time per transaction,
 * from the client: on a quiet machine, the backend's work on it (COMMIT adds its WAL flush). The tables
 * are emptied afterwards.
 */
import { finished } from 'node:stream/promises'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import {
  ALERT_COLUMNS,
  arrayParameters,
  columnArrays,
  columnNames,
  copyText,
  SCORE_COLUMNS,
  STORED_TRANSACTION_COLUMNS,
} from '../src/main/pipeline/sink-columns'
import type { ScoredRow } from '../src/main/pipeline/sink'
import {
  createListMatcher,
  emptyUserState,
  MODEL_VERSION,
  packUserState,
  scoreTransaction,
  type PackedUserState,
  type UserState,
} from '../src/main/scoring'
import { GENERATOR_BLOCKLIST, generateTraffic } from '../src/main/scoring/generator'
import { DEFAULT_RULES } from '../src/shared/rules'

const BATCH = 500
type Step = 'transactions' | 'scores' | 'alerts' | 'states' | 'commit'
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
    const byUser = Object.create(null) as Record<string, PackedUserState>
    for (const [user, state] of touched) byUser[user] = packUserState(state)
    batches.push({ rows, states: JSON.stringify(byUser) })
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
    scores: 0,
    alerts: 0,
    states: 0,
    commit: 0,
  }
  let stateBytes = 0
  try {
    await client.query(
      `INSERT INTO pipeline_partitions (source, partition, epoch, owner) VALUES ('bench-breakdown', 0, 1, 'bench')`,
    )
    for (const [index, { rows, states }] of batches.entries()) {
      const timed = async (step: Step, work: () => Promise<unknown>) => {
        const started = performance.now()
        await work()
        spent[step] += performance.now() - started
      }
      stateBytes += states.length
      await client.query('BEGIN')
      await timed('transactions', () =>
        copy(
          `COPY transactions (${columnNames(STORED_TRANSACTION_COLUMNS)}) FROM STDIN`,
          copyText(STORED_TRANSACTION_COLUMNS, rows),
        ),
      )
      await timed('scores', () =>
        copy(`COPY scores (${columnNames(SCORE_COLUMNS)}) FROM STDIN`, copyText(SCORE_COLUMNS, rows)),
      )
      const alerted = rows.filter((row) => row.score.decision !== 'approve')
      await timed('alerts', () =>
        client.query(
          `INSERT INTO alerts (${columnNames(ALERT_COLUMNS)}) SELECT * FROM unnest(${arrayParameters(ALERT_COLUMNS, 1)})`,
          columnArrays(ALERT_COLUMNS, alerted),
        ),
      )
      await timed('states', () =>
        client.query(
          `INSERT INTO user_features (user_id, state, model_version)
           SELECT key, value, $2 FROM json_each($1::json)
           ON CONFLICT (user_id) DO UPDATE
             SET state = EXCLUDED.state, model_version = EXCLUDED.model_version, updated_at = now()`,
          [states, MODEL_VERSION],
        ),
      )
      await timed('commit', async () => {
        await client.query(
          `UPDATE pipeline_partitions SET position = $1, updated_at = now()
            WHERE source = 'bench-breakdown' AND partition = 0 AND epoch = 1`,
          [String(index)],
        )
        await client.query('COMMIT')
      })
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
    scores: perTransaction(spent.scores),
    alerts: perTransaction(spent.alerts),
    states: perTransaction(spent.states),
    commit: perTransaction(spent.commit),
    stateBytes: stateBytes / options.count,
  }
}
