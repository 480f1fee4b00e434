import { randomBytes, randomUUID } from 'node:crypto'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AnalystDirectory } from '../../src/main/security/analysts'
import { scramVerifier } from '../../src/main/security/scram'
import { openPostgresStore, type Store } from '../../src/main/store/store'
import { attempt, failsWith, type Outcome } from './support/attempts'
import { MEMBERS, openTeamDatabase, urlAs, type Member, type TeamDatabase } from './support/team-database'

/**
 * Each kind of member of a team, over a raw `pg` connection with its own login, against every action
 * its role forbids. PostgreSQL must refuse all of them; the app is not in the way.
 */

let team: TeamDatabase
const clients = {} as Record<Member, pg.Client>
const analystIds = {} as Record<'analyst' | 'analyst2' | 'supervisor' | 'admin', number>
const cases = {} as Record<
  'other' | 'mine' | 'mine2' | 'free' | 'fraudMine' | 'fraudOther' | 'take' | 'sup1' | 'sup2',
  number
>

async function seed(owner: pg.Client) {
  const ids = await owner.query<{ login: string; id: number }>('SELECT login, id FROM analysts')
  for (const member of ['analyst', 'analyst2', 'supervisor', 'admin'] as const)
    analystIds[member] = Number(ids.rows.find((row) => row.login === team.logins[member])?.id)
  const openCase = async (user: string, assignee: number | null, closedAsFraud = false) => {
    const { rows } = await owner.query<{ id: string }>(
      `INSERT INTO cases (user_id, assignee_id, status, outcome, closed_at)
       VALUES ($1, $2, $3, $4, $5) RETURNING id`,
      closedAsFraud
        ? [user, assignee, 'closed', 'fraud_confirmed', new Date()]
        : [user, assignee, 'open', null, null],
    )
    const id = Number(rows[0]?.id)
    const txn = randomUUID()
    await owner.query(
      `INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency, source_ip, device_id)
       VALUES ($1, now(), $2, $3, 'TRANSFER', 9500.00, 'USD', '10.9.8.7', $4)`,
      [txn, user, `M_${user}`, `dev_${user}`],
    )
    await owner.query(`INSERT INTO alerts (txn_id, case_id, score, decision) VALUES ($1, $2, 91, 'block')`, [
      txn,
      id,
    ])
    await owner.query(`INSERT INTO case_events (case_id, action, note) VALUES ($1, 'opened', 'seeded')`, [id])
    return id
  }
  cases.other = await openCase('U_other', analystIds.analyst2)
  cases.mine = await openCase('U_mine', analystIds.analyst)
  cases.mine2 = await openCase('U_mine2', analystIds.analyst)
  cases.free = await openCase('U_free', null)
  cases.fraudMine = await openCase('U_fraud_mine', analystIds.analyst, true)
  cases.fraudOther = await openCase('U_fraud_other', analystIds.analyst2, true)
  cases.take = await openCase('U_take', null)
  cases.sup1 = await openCase('U_sup1', analystIds.analyst2)
  cases.sup2 = await openCase('U_sup2', analystIds.analyst2)
  // The team webhook: a Slack URL carries its token in its path.
  await owner.query(`INSERT INTO triage_settings (key, value) VALUES ('webhook_url', $1)`, [WEBHOOK_URL])
  await owner.query(`INSERT INTO rules (version, definition, comment) VALUES (1, '{"rules": []}', 'seed')`)
  await owner.query(`INSERT INTO lists (kind, value, reason) VALUES ('user', 'U_known_bad', 'seed')`)
  await owner.query(
    `INSERT INTO lists (kind, value, reason) VALUES ('device', 'dev_U_fraud_mine', 'admin: permanent')`,
  )
}

beforeAll(async () => {
  team = await openTeamDatabase()
  const owner = await team.connect(new URL(team.database.url).username || 'postgres')
  await seed(owner)
  for (const member of MEMBERS) clients[member] = await team.connect(team.logins[member])
})

afterAll(async () => {
  await team?.dispose()
})

/** Every attempt runs in a transaction that is rolled back, so one that got through changes nothing. */
async function inRollback<T>(client: pg.Client, run: () => Promise<T>): Promise<T> {
  await client.query('BEGIN')
  try {
    return await run()
  } finally {
    await client.query('ROLLBACK')
  }
}

/** Refused with insufficient_privilege (or the listed codes). */
const denied =
  (
    text: string | ((member: Member) => string),
    params: (member: Member) => unknown[] = () => [],
    codes = ['42501'],
  ) =>
  (member: Member) =>
    failsWith(codes, () =>
      inRollback(clients[member], async () => {
        for (const statement of [typeof text === 'string' ? text : text(member)].flatMap((each) =>
          each.split(';\n'),
        ))
          await clients[member].query(statement, statement.includes('$') ? params(member) : [])
      }),
    )

/** Refused by privilege, or filtered by row-level security so that no row changed. */
const untouched = (text: string, params: () => unknown[]) => async (member: Member) =>
  inRollback(clients[member], async (): Promise<Outcome> => {
    try {
      const result = await clients[member].query(text, params())
      return result.rowCount === 0
        ? { refused: true, detail: 'row-level security left no row to change' }
        : { refused: false, detail: `${result.rowCount} rows changed` }
    } catch (error) {
      const code = (error as { code?: string }).code
      return code === '42501'
        ? { refused: true, detail: `42501 ${(error as Error).message}` }
        : { refused: false, detail: `failed, but not as a refusal: ${code} ${(error as Error).message}` }
    }
  })

/** Refused by privilege, or filtered by row-level security so that nothing is visible. */
const invisible = (text: string, params: () => unknown[]) => async (member: Member) =>
  inRollback(clients[member], async (): Promise<Outcome> => {
    try {
      const result = await clients[member].query(text, params())
      return result.rows.length === 0
        ? { refused: true, detail: 'row-level security shows no row' }
        : { refused: false, detail: `${result.rows.length} rows visible` }
    } catch (error) {
      const code = (error as { code?: string }).code
      return code === '42501'
        ? { refused: true, detail: `42501 ${(error as Error).message}` }
        : { refused: false, detail: `failed, but not as a refusal: ${code} ${(error as Error).message}` }
    }
  })

const EVERYONE: Member[] = ['analyst', 'supervisor', 'admin', 'ingest', 'nobody']
const BELOW_SUPERVISOR: Member[] = ['analyst', 'ingest', 'nobody']
const BELOW_ADMIN: Member[] = ['analyst', 'supervisor', 'ingest', 'nobody']

interface ForbiddenAction {
  action: string
  members: Member[]
  run: (member: Member) => Promise<Outcome>
}

const close = `status = 'closed', outcome = 'false_positive', closed_at = now()`
const WEBHOOK_TOKEN = 'xoxbSecretToken1234567890'
const WEBHOOK_URL = `https://hooks.slack.com/services/T0000/B0000/${WEBHOOK_TOKEN}`

const FORBIDDEN: ForbiddenAction[] = [
  // Cases: analysts triage their own and unassigned cases only.
  {
    action: 'resolves a case assigned to someone else',
    members: BELOW_SUPERVISOR,
    run: untouched(`UPDATE cases SET ${close} WHERE id = $1`, () => [cases.other]),
  },
  {
    action: 'takes over a case assigned to someone else',
    members: BELOW_SUPERVISOR,
    run: untouched(`UPDATE cases SET assignee_id = $1 WHERE id = $2`, () => [
      analystIds.analyst,
      cases.other,
    ]),
  },
  {
    action: 'reassigns their own case to another analyst',
    members: BELOW_SUPERVISOR,
    run: denied(`UPDATE cases SET assignee_id = $1 WHERE id = $2`, () => [analystIds.analyst2, cases.mine]),
  },
  {
    action: 'assigns an unassigned case to another analyst',
    members: BELOW_SUPERVISOR,
    run: denied(`UPDATE cases SET assignee_id = $1 WHERE id = $2`, () => [analystIds.analyst2, cases.free]),
  },
  {
    action: 'bulk-closes cases in one statement',
    members: BELOW_SUPERVISOR,
    run: denied(`UPDATE cases SET ${close} WHERE id = ANY ($1)`, () => [[cases.mine, cases.mine2]]),
  },
  {
    action: 'changes the user or priority of a case',
    members: BELOW_SUPERVISOR,
    run: denied(`UPDATE cases SET user_id = 'U_someone', priority = 0 WHERE id = $1`, () => [cases.mine]),
  },
  {
    action: 'deletes a case',
    members: EVERYONE,
    run: denied(`DELETE FROM cases WHERE id = $1`, () => [cases.mine]),
  },
  {
    action: 'reads a case assigned to someone else',
    members: ['analyst', 'nobody'],
    run: invisible(`SELECT * FROM cases WHERE id = $1`, () => [cases.other]),
  },
  {
    action: "reads the events of someone else's case",
    members: ['analyst', 'nobody'],
    run: invisible(`SELECT * FROM case_events WHERE case_id = $1`, () => [cases.other]),
  },
  {
    action: "reads the audit trail of someone else's case",
    members: ['analyst', 'nobody'],
    run: invisible(`SELECT * FROM audit_log WHERE case_id = $1`, () => [cases.other]),
  },
  {
    action: "adds a note to someone else's case",
    members: BELOW_SUPERVISOR.filter((member) => member !== 'ingest'),
    run: denied(`INSERT INTO case_events (case_id, action, note) VALUES ($1, 'note', 'mine now')`, () => [
      cases.other,
    ]),
  },

  // Rules are versioned: admins add versions, nobody rewrites one.
  {
    action: 'saves a new rules version',
    members: BELOW_ADMIN,
    run: denied(`INSERT INTO rules (version, definition) VALUES (2, '{"rules": []}')`),
  },
  {
    action: 'rewrites a rules version',
    members: EVERYONE,
    run: denied(`UPDATE rules SET definition = '{"rules": []}' WHERE version = 1`),
  },
  {
    action: 'deletes a rules version',
    members: EVERYONE,
    run: denied(`DELETE FROM rules WHERE version = 1`),
  },
  { action: 'truncates rules', members: EVERYONE, run: denied(`TRUNCATE rules`) },

  // Lists belong to admins (analysts block only through a fraud case of their own, below).
  {
    action: 'adds a blocklist entry',
    members: BELOW_ADMIN,
    run: denied(`INSERT INTO lists (kind, value, reason) VALUES ('user', 'U_someone', 'because')`),
  },
  {
    action: 'edits a blocklist entry',
    members: BELOW_ADMIN,
    run: denied(`UPDATE lists SET expires_at = now() WHERE value = 'U_known_bad'`),
  },
  {
    action: 'removes a blocklist entry',
    members: BELOW_ADMIN,
    run: denied(`DELETE FROM lists WHERE value = 'U_known_bad'`),
  },
  { action: 'truncates lists', members: EVERYONE, run: denied(`TRUNCATE lists`) },
  {
    action: 'blocks a user who is not part of the case',
    members: ['analyst', 'supervisor'],
    run: denied(`SELECT aether_block_from_case($1, 'user', 'U_innocent', 'fraud')`, () => [cases.fraudMine]),
  },
  {
    action: "blocks from someone else's fraud case",
    members: ['analyst'],
    run: denied(`SELECT aether_block_from_case($1, 'user', 'U_fraud_other', 'fraud')`, () => [
      cases.fraudOther,
    ]),
  },
  {
    action: 'blocks from a case not closed as fraud',
    members: ['analyst'],
    run: denied(`SELECT aether_block_from_case($1, 'user', 'U_mine', 'fraud')`, () => [cases.mine], [
      '23514',
    ]),
  },
  {
    action: 'blocks from a fraud case without being staff',
    members: ['ingest', 'nobody'],
    run: denied(`SELECT aether_block_from_case($1, 'user', 'U_fraud_mine', 'fraud')`, () => [
      cases.fraudMine,
    ]),
  },

  // The pipeline's one-call commit (0014) is the ingest group's alone, and runs with the caller's rights.
  {
    action: "stores a scored transaction through the pipeline's commit function",
    members: ['analyst', 'supervisor', 'admin', 'nobody'],
    run: denied(
      `SELECT pipeline_commit_batch('sec', '{}', '{}', '{}', ARRAY[gen_random_uuid()], ARRAY[now()],
         '{U_forged}', '{M_forged}', '{TRANSFER}', '{1.00}', '{USD}', '{NULL}', '{NULL}', '{NULL}', '{NULL}',
         '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{0}', '{approve}', ARRAY['[]'::jsonb], '{forged}',
         '{1}', '{}'::json, 'forged')`,
    ),
  },

  // Analysts are administered only through the admin functions, by admins.
  ...(
    [
      ['adds an analyst', `SELECT aether_add_analyst('sec_intruder', 'Intruder', 'admin', $1)`],
      ['disables an analyst', `SELECT aether_disable_analyst($1)`],
      ['re-enables an analyst', `SELECT aether_enable_analyst($1)`],
      ['promotes an analyst', `SELECT aether_set_analyst_role($1, 'admin')`],
      ['gives an analyst ingest rights', `SELECT aether_set_analyst_ingest($1, true)`],
    ] as const
  ).map(([action, text]): ForbiddenAction => ({
    action: `${action} through the SECURITY DEFINER function`,
    members: BELOW_ADMIN,
    run: denied(text, () => [
      text.includes('add') ? scramVerifier('a long enough password') : team.logins.analyst2,
    ]),
  })),
  {
    action: 'adds an analyst row directly',
    members: EVERYONE,
    run: denied(`INSERT INTO analysts (login, display_name, role) VALUES ('sec_ghost', 'Ghost', 'admin')`),
  },
  {
    action: 'promotes themselves in the analysts table',
    members: EVERYONE,
    run: denied(`UPDATE analysts SET role = 'admin' WHERE login = session_user`),
  },
  { action: 'deletes an analyst row', members: EVERYONE, run: denied(`DELETE FROM analysts`) },
  { action: 'creates a login role', members: EVERYONE, run: denied(`CREATE ROLE sec_backdoor LOGIN`) },
  {
    action: 'grants themselves the admin group',
    members: EVERYONE,
    run: denied((member) => `GRANT aether_admin TO "${team.logins[member]}"`),
  },
  {
    action: 'gives themselves CREATEROLE',
    members: EVERYONE,
    run: denied((member) => `ALTER ROLE "${team.logins[member]}" CREATEROLE`),
  },
  {
    action: "changes the superuser's password",
    members: EVERYONE,
    run: denied(`ALTER ROLE postgres PASSWORD 'owned'`),
  },

  // The audit trail and case events are append-only for everyone but the owner.
  ...(['case_events', 'audit_log'] as const).flatMap((table): ForbiddenAction[] => [
    { action: `updates ${table}`, members: EVERYONE, run: denied(`UPDATE ${table} SET action = 'nothing'`) },
    { action: `deletes from ${table}`, members: EVERYONE, run: denied(`DELETE FROM ${table}`) },
    { action: `truncates ${table}`, members: EVERYONE, run: denied(`TRUNCATE ${table}`) },
    {
      action: `disables the triggers of ${table}`,
      members: EVERYONE,
      run: denied(`ALTER TABLE ${table} DISABLE TRIGGER ALL`),
    },
  ]),

  // The actor comes from the session, never from the client.
  {
    action: 'writes a case event with a forged actor',
    members: ['analyst', 'supervisor', 'admin', 'ingest', 'nobody'],
    run: denied(
      `INSERT INTO case_events (case_id, action, note, actor) VALUES ($1, 'note', 'x', 'someone_else')`,
      () => [cases.mine],
    ),
  },
  {
    action: 'writes a case event with a forged time',
    members: ['analyst', 'supervisor', 'admin', 'ingest'],
    run: denied(`INSERT INTO case_events (case_id, action, at) VALUES ($1, 'note', '2001-01-01')`, () => [
      cases.mine,
    ]),
  },
  {
    action: 'writes an audit row with a forged actor',
    members: EVERYONE,
    run: denied(`INSERT INTO audit_log (entity, action, actor) VALUES ('cases', 'update', 'someone_else')`),
  },
  {
    action: 'saves a rules version under another author',
    members: EVERYONE,
    run: denied(`INSERT INTO rules (version, definition, author) VALUES (3, '{}', 'someone_else')`),
  },
  {
    action: 'adds a list entry under another name',
    members: EVERYONE,
    run: denied(
      `INSERT INTO lists (kind, value, reason, created_by) VALUES ('user', 'U_x', 'x', 'someone_else')`,
    ),
  },
  {
    action: 'forges the actor of a note by switching to a group role',
    members: ['analyst', 'supervisor'],
    run: async (member) =>
      inRollback(clients[member], async () => {
        await clients[member].query(`SET ROLE "${team.groups.analyst}"`)
        const { rows } = await clients[member].query<{ actor: string }>(
          `INSERT INTO case_events (case_id, action, note) VALUES ($1, 'note', 'as the group') RETURNING actor`,
          [member === 'analyst' ? cases.mine : cases.free],
        )
        const actor = rows[0]?.actor
        return actor === team.logins[member]
          ? { refused: true, detail: `recorded as ${actor}, the session's own login` }
          : { refused: false, detail: `recorded as ${actor}` }
      }),
  },

  // Only the audit triggers write audit rows: a row that records nothing that happened is refused.
  {
    action: 'forges an audit row',
    members: EVERYONE,
    run: denied(
      `INSERT INTO audit_log (entity, action, after) VALUES ('rules', 'update', '{"forged": true}')`,
    ),
  },
  {
    action: 'forges an audit row about a case',
    members: EVERYONE,
    run: denied(
      `INSERT INTO audit_log (entity, entity_id, case_id, action, before, after)
       VALUES ('cases', $1::bigint::text, $1::bigint, 'update', '{"status": "open"}', '{"status": "closed"}')`,
      () => [cases.mine],
    ),
  },

  // Case events tell of what happened: the database's own ("opened") and an analyst's change made in
  // the same transaction; only a note stands alone.
  {
    action: 'forges an "opened" case event',
    members: ['analyst', 'supervisor', 'admin', 'ingest'],
    run: denied(
      `INSERT INTO case_events (case_id, action, after) VALUES ($1, 'opened', '{"status": "open", "score": 1}')`,
      () => [cases.mine],
    ),
  },
  {
    action: 'records a case as closed without closing it',
    members: ['analyst', 'supervisor', 'admin', 'ingest'],
    run: denied(
      `INSERT INTO case_events (case_id, action, before, after)
       VALUES ($1, 'closed', '{"status": "in_review"}', '{"status": "closed", "outcome": "false_positive"}')`,
      () => [cases.mine],
    ),
  },
  {
    action: 'records a case as closed after a change that did not close it',
    members: ['analyst', 'supervisor'],
    run: denied(
      `UPDATE cases SET version = version + 1 WHERE id = $1;
INSERT INTO case_events (case_id, action, after) VALUES ($1, 'closed', '{"status": "closed"}')`,
      () => [cases.mine],
    ),
  },
  // An event beside a real change: what it says the case was and is must be true (0020).
  ...(
    [
      [
        'saying the case was someone else’s',
        '{"status": "open", "assignee": "someone_else"}',
        '{"status": "escalated"}',
      ],
      ['saying the case was in another status', '{"status": "closed"}', '{"status": "escalated"}'],
      [
        'with an outcome the case does not have',
        null,
        '{"status": "escalated", "outcome": "fraud_confirmed"}',
      ],
      ['with details made up beside it', null, '{"status": "escalated", "approved_by": "the_ciso"}'],
    ] as const
  ).map(([what, before, after]): ForbiddenAction => ({
    action: `records a real change ${what}`,
    members: ['analyst', 'supervisor'],
    run: denied(
      `UPDATE cases SET status = 'escalated', version = version + 1 WHERE id = $1;
INSERT INTO case_events (case_id, action, before, after) VALUES ($1, 'escalated', ${before === null ? 'NULL' : `'${before}'`}, '${after}')`,
      () => [cases.mine],
    ),
  })),
  {
    action: 'records a real assignment to someone else',
    members: ['analyst', 'supervisor'],
    run: denied(
      (
        member,
      ) => `UPDATE cases SET assignee_id = aether_current_analyst_id(), status = 'in_review', version = version + 1 WHERE id = $1;
INSERT INTO case_events (case_id, action, before, after)
       VALUES ($1, 'assigned', '{"status": "open", "assignee": null}', '{"status": "in_review", "assignee": "${member}_not_me"}')`,
      () => [cases.free],
    ),
  },
  {
    action: 'records an assignment that did not happen',
    members: ['analyst', 'supervisor', 'admin', 'ingest'],
    run: denied(
      `INSERT INTO case_events (case_id, action, before, after)
       VALUES ($1, 'assigned', '{"assignee": null}', '{"assignee": "someone_else"}')`,
      () => [cases.free],
    ),
  },
  {
    action: 'records blocklist entries that were never added',
    members: ['analyst', 'supervisor', 'admin', 'ingest'],
    run: denied(
      `INSERT INTO case_events (case_id, action, after) VALUES ($1, 'blocklisted', '{"entries": ["user:U_x"]}')`,
      () => [cases.fraudMine],
    ),
  },
  {
    action: 'writes a note carrying a forged before and after',
    members: ['analyst', 'supervisor', 'admin', 'ingest'],
    run: denied(
      `INSERT INTO case_events (case_id, action, note, before, after)
       VALUES ($1, 'note', 'x', '{"status": "open"}', '{"status": "closed"}')`,
      () => [cases.mine],
    ),
  },
  {
    action: 'writes a case event of a made-up kind',
    members: ['analyst', 'supervisor', 'admin', 'ingest'],
    run: denied(`INSERT INTO case_events (case_id, action) VALUES ($1, 'reopened_by_system')`, () => [
      cases.mine,
    ]),
  },

  // Row-level security cannot be switched off or stepped around.
  {
    action: 'reads cases with row_security off',
    members: EVERYONE,
    run: denied(`SET row_security = off;\nSELECT count(*) FROM cases`),
  },
  {
    action: 'disables row-level security on cases',
    members: EVERYONE,
    run: denied(`ALTER TABLE cases DISABLE ROW LEVEL SECURITY`),
  },
  { action: 'drops a policy', members: EVERYONE, run: denied(`DROP POLICY cases_analyst_read ON cases`) },
  {
    action: 'adds a policy of their own',
    members: EVERYONE,
    run: denied(`CREATE POLICY sec_open ON cases FOR ALL TO PUBLIC USING (true)`),
  },
  {
    action: 'turns triggers off with session_replication_role',
    members: EVERYONE,
    run: denied(`SET session_replication_role = replica`),
  },
  {
    action: 'becomes the superuser with SET SESSION AUTHORIZATION',
    members: EVERYONE,
    run: denied(`SET SESSION AUTHORIZATION postgres`),
  },
  {
    action: 'creates a function in the public schema (to shadow one)',
    members: EVERYONE,
    run: denied(
      `CREATE FUNCTION public.aether_current_analyst_id() RETURNS bigint LANGUAGE sql AS 'SELECT 1'`,
    ),
  },
  ...(
    [
      ['analyst', ['supervisor', 'admin', 'ingest', 'worker', 'postgres']],
      ['supervisor', ['admin', 'ingest', 'worker', 'postgres']],
      ['admin', ['ingest', 'worker', 'postgres']],
      ['ingest', ['analyst', 'admin', 'worker', 'postgres']],
      ['nobody', ['analyst', 'ingest', 'worker', 'postgres']],
    ] as const
  ).flatMap(([member, groups]) =>
    groups.map((group): ForbiddenAction => ({
      action: `switches to ${group === 'postgres' ? group : `the database's ${group} group`} with SET ROLE`,
      members: [member],
      run: denied(() => `SET ROLE "${group === 'postgres' ? group : team.groups[group]}"`),
    })),
  ),

  // Transactions and scores are the pipeline's to write; a login in no group reads nothing.
  {
    action: 'inserts a transaction',
    members: ['analyst', 'supervisor', 'admin', 'nobody'],
    run: denied(
      `INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency)
       VALUES (gen_random_uuid(), now(), 'U_x', 'M_x', 'PAYMENT', 1, 'USD')`,
    ),
  },
  {
    action: 'rewrites a score',
    members: EVERYONE,
    run: denied(`UPDATE transactions SET score = 0, decision = 'approve'`),
  },
  // The scores view (0015) is for reading: a score is written with its transaction only.
  {
    action: 'rewrites a score through the scores view',
    members: EVERYONE,
    run: denied(`UPDATE scores SET score = 0, decision = 'approve'`),
  },
  {
    action: 'inserts a score through the scores view',
    members: EVERYONE,
    run: denied(
      `INSERT INTO scores (txn_id, score, decision, reasons, model_version, rules_version)
       VALUES (gen_random_uuid(), 0, 'approve', '[]', 'm', 1)`,
    ),
  },
  { action: 'deletes transactions', members: EVERYONE, run: denied(`DELETE FROM transactions`) },
  { action: 'truncates transactions', members: EVERYONE, run: denied(`TRUNCATE transactions CASCADE`) },
  { action: 'deletes alerts', members: EVERYONE, run: denied(`DELETE FROM alerts`) },
  { action: 'reads transactions', members: ['nobody'], run: denied(`SELECT * FROM transactions`) },
  { action: 'reads the analysts', members: ['ingest', 'nobody'], run: denied(`SELECT * FROM analysts`) },
  // 0019: what an analyst's own login could do beyond the app.
  {
    action: "lifts an admin's permanent block by blocking the value again from their fraud case",
    members: ['analyst'],
    run: (member) =>
      inRollback(clients[member], async (): Promise<Outcome> => {
        await clients[member]
          .query(`SELECT aether_block_from_case($1, 'device', 'dev_U_fraud_mine', 'lifted', '2000-01-01')`, [
            cases.fraudMine,
          ])
          .catch(() => {})
        const { rows } = await clients[member].query<{ expires_at: Date | null; reason: string }>(
          `SELECT expires_at, reason FROM lists WHERE kind = 'device' AND value = 'dev_U_fraud_mine'`,
        )
        const entry = rows[0]
        return entry !== undefined && entry.expires_at === null && entry.reason === 'admin: permanent'
          ? { refused: true, detail: 'the entry stays permanent, with its reason' }
          : { refused: false, detail: `the entry is now ${JSON.stringify(entry)}` }
      }),
  },
  {
    action: 'sets a case’s version past every edit to come (integer out of range for the team)',
    members: ['analyst', 'supervisor'],
    run: (member) =>
      inRollback(clients[member], async (): Promise<Outcome> => {
        const id = member === 'analyst' ? cases.mine : cases.sup1
        const before = await clients[member].query<{ version: number }>(
          `SELECT version FROM cases WHERE id = $1`,
          [id],
        )
        await clients[member].query(`UPDATE cases SET version = 2147483647 WHERE id = $1`, [id])
        const after = await clients[member].query<{ version: number }>(
          `SELECT version FROM cases WHERE id = $1`,
          [id],
        )
        const [was, is] = [before.rows[0]?.version, after.rows[0]?.version]
        return was !== undefined && is === was + 1
          ? { refused: true, detail: `the version went from ${was} to ${is}, not to 2147483647` }
          : { refused: false, detail: `the version is ${is}` }
      }),
  },
  {
    action: 'backdates when a case closed',
    members: ['analyst'],
    run: (member) =>
      inRollback(clients[member], async (): Promise<Outcome> => {
        await clients[member].query(`UPDATE cases SET closed_at = '2020-01-01' WHERE id = $1`, [cases.mine])
        const { rows } = await clients[member].query<{ closed_at: Date | null }>(
          `SELECT closed_at FROM cases WHERE id = $1`,
          [cases.mine],
        )
        return rows[0]?.closed_at === null
          ? { refused: true, detail: 'an open case has no closing time' }
          : { refused: false, detail: `closed_at is ${String(rows[0]?.closed_at)}` }
      }),
  },
  {
    action: "labels the transaction of a colleague's open case as fraud",
    members: ['analyst'],
    run: denied(
      `INSERT INTO labels (txn_id, case_id, outcome)
       SELECT txn_id, case_id, 'fraud_confirmed' FROM alerts WHERE case_id = $1`,
      () => [cases.other],
    ),
  },
  {
    action: 'labels the transaction of their own open case (no outcome yet) as fraud',
    members: ['analyst'],
    run: denied(
      `INSERT INTO labels (txn_id, case_id, outcome)
       SELECT txn_id, case_id, 'fraud_confirmed' FROM alerts WHERE case_id = $1`,
      () => [cases.mine],
    ),
  },
  {
    action: "moves an alert into a colleague's case",
    members: EVERYONE,
    run: denied(`UPDATE alerts SET case_id = $1 WHERE case_id = $2`, () => [cases.other, cases.mine]),
  },
  {
    action: 'rewrites the counterparty of a stored transaction',
    members: EVERYONE,
    run: denied(`UPDATE transactions SET counterparty_id = 'BIG_MERCHANT' WHERE user_id = 'U_mine'`),
  },
  {
    action: "stores an alert naming a colleague's case",
    members: ['ingest'],
    run: (member) =>
      inRollback(clients[member], async (): Promise<Outcome> => {
        const txn = randomUUID()
        await clients[member].query(
          `INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency)
           VALUES ($1, now(), 'U_ivy', 'M_ivy', 'TRANSFER', 10.00, 'USD')`,
          [txn],
        )
        await clients[member].query(
          `INSERT INTO alerts (txn_id, case_id, score, decision) VALUES ($1, $2, 99, 'block')`,
          [txn, cases.other],
        )
        const { rows } = await clients[member].query<{ case_id: string }>(
          `SELECT case_id FROM alerts WHERE txn_id = $1`,
          [txn],
        )
        return Number(rows[0]?.case_id) !== cases.other
          ? { refused: true, detail: 'the alert joined its own user’s case' }
          : { refused: false, detail: "the alert is in the colleague's case" }
      }),
  },
  // The webhook URL is a credential: its admins set it and the workers post to it (0021), the worker
  // group's alone, not the ingest group's, which analysts whose desks ingest are in (0024).
  {
    action: 'reads the team webhook URL',
    members: ['analyst', 'supervisor', 'ingest'],
    run: denied(`SELECT value FROM triage_settings`),
  },
  {
    action: 'reads the team webhook URL from the audit of its changes',
    members: ['analyst', 'supervisor', 'admin'],
    run: (member) =>
      inRollback(clients[member], async (): Promise<Outcome> => {
        const { rows } = await clients[member].query<{ row: string }>(
          `SELECT concat(before::text, after::text) AS row FROM audit_log WHERE entity = 'triage_settings'`,
        )
        if (rows.length === 0) return { refused: false, detail: 'no audit of the setting to judge by' }
        return rows.some((row) => row.row.includes(WEBHOOK_TOKEN))
          ? { refused: false, detail: 'the audit shows the URL whole' }
          : { refused: true, detail: `the audit shows ${rows.length} change(s), the URL masked` }
      }),
  },
  {
    action: 'stops the team webhook, or points it elsewhere',
    members: ['analyst', 'supervisor', 'ingest', 'nobody'],
    run: denied(
      `DELETE FROM triage_settings WHERE key = 'webhook_url';\nUPDATE triage_settings SET value = 'https://attacker.example/hook'`,
    ),
  },
  {
    action: 'has every alert posted to the team webhook',
    members: ['analyst'],
    run: denied(`INSERT INTO webhook_deliveries (alert_id) SELECT id FROM alerts`),
  },
  {
    action: 'marks the team webhook posts as sent',
    members: ['analyst', 'supervisor', 'admin', 'ingest', 'nobody'],
    run: denied(`UPDATE webhook_deliveries SET sent_at = now()`),
  },
  {
    action: 'holds the team webhook posts back',
    members: ['analyst', 'supervisor', 'admin', 'ingest', 'nobody'],
    run: denied(`UPDATE webhook_deliveries SET next_attempt_at = 'infinity'`),
  },
  // Alerts waiting for a case locked by another session (0022): only the trigger and the workers' join move them.
  {
    action: 'joins the alerts waiting for their case',
    members: ['analyst', 'supervisor', 'admin', 'nobody'],
    run: denied(`SELECT * FROM aether_join_waiting_alerts(1000)`),
  },
  {
    action: 'counts an alert into a case of their choice',
    members: ['analyst', 'supervisor', 'admin', 'ingest', 'nobody'],
    run: denied(`SELECT aether_case_for_alert(1, 'U_mine', 100::smallint, 'block', 1e15, now())`),
  },
  {
    action: 'makes an alert wait for its case, or lets one go without it',
    members: ['analyst', 'supervisor', 'admin', 'ingest'],
    run: denied(
      `INSERT INTO alert_case_waits (alert_id, user_id) SELECT id, user_id FROM alerts LIMIT 1;\nDELETE FROM alert_case_waits`,
    ),
  },
  {
    action: 'reopens their own closed case and closes it with another outcome',
    members: ['analyst'],
    run: untouched(`UPDATE cases SET status = 'open', outcome = NULL WHERE id = $1`, () => [cases.fraudMine]),
  },
]

describe('forbidden actions over a raw pg connection', () => {
  for (const { action, members, run } of FORBIDDEN)
    for (const member of members)
      it(`${member} ${action}`, () => attempt(`${member} ${action}`, () => run(member)))
})

describe('an admin misusing the administration functions', () => {
  const asAdmin = (text: string, params: () => unknown[], codes: string[]) => () =>
    failsWith(codes, () => inRollback(clients.admin, () => clients.admin.query(text, params())))
  const add = `SELECT aether_add_analyst($1, 'Someone', $2, $3)`
  const verifier = () => scramVerifier('a long enough password')
  const misuses: [string, () => Promise<Outcome>][] = [
    [
      'adopts the existing superuser as an analyst',
      asAdmin(add, () => ['postgres', 'admin', verifier()], ['42710']),
    ],
    ['adds a reserved pg_ login', asAdmin(add, () => ['pg_sneaky', 'analyst', verifier()], ['22023'])],
    [
      'adds a login named like a group role',
      asAdmin(add, () => ['aether_admin2', 'analyst', verifier()], ['22023']),
    ],
    [
      'adds a login carrying SQL',
      asAdmin(add, () => [`x"; ALTER ROLE postgres PASSWORD 'owned'; --`, 'analyst', verifier()], ['22023']),
    ],
    [
      'adds an analyst with an unknown role',
      asAdmin(add, () => ['sec_odd', 'superuser', verifier()], ['22023']),
    ],
    [
      'sends a plain-text password',
      asAdmin(add, () => ['sec_plain', 'analyst', 'hunter2hunter2'], ['28P01']),
    ],
    [
      'disables a role that is not an analyst',
      asAdmin(`SELECT aether_disable_analyst('postgres')`, () => [], ['P0002']),
    ],
    [
      're-roles a role that is not an analyst',
      asAdmin(`SELECT aether_set_analyst_role('postgres', 'admin')`, () => [], ['P0002']),
    ],
    [
      'disables their own account',
      asAdmin(`SELECT aether_disable_analyst(session_user)`, () => [], ['42501']),
    ],
    [
      'changes their own role',
      asAdmin(`SELECT aether_set_analyst_role(session_user, 'analyst')`, () => [], ['42501']),
    ],
  ]
  for (const [action, run] of misuses) it(`admin ${action}`, () => attempt(`admin ${action}`, run))
})

describe('what each role may do (controls: these must work)', () => {
  it('an analyst takes an unassigned case, resolves it, and the audit trail names them from the session', async () => {
    const analyst = clients.analyst
    const taken = await analyst.query(
      `UPDATE cases SET assignee_id = $1 WHERE id = $2 AND assignee_id IS NULL`,
      [analystIds.analyst, cases.take],
    )
    expect(taken.rowCount).toBe(1)
    await analyst.query(`UPDATE cases SET ${close}, version = version + 1 WHERE id = $1`, [cases.take])
    const note = await analyst.query<{ actor: string }>(
      `INSERT INTO case_events (case_id, action, note) VALUES ($1, 'note', 'looked fine') RETURNING actor`,
      [cases.take],
    )
    expect(note.rows[0]?.actor).toBe(team.logins.analyst)
    const trail = await analyst.query<{
      actor: string
      action: string
      before: { status: string }
      after: { status: string }
    }>(
      `SELECT actor, action, before, after FROM audit_log WHERE case_id = $1 AND action = 'update' ORDER BY id`,
      [cases.take],
    )
    expect(trail.rows.map((row) => row.actor)).toEqual([team.logins.analyst, team.logins.analyst])
    expect(trail.rows.at(-1)?.before.status).toBe('open')
    expect(trail.rows.at(-1)?.after.status).toBe('closed')
  })

  it('an analyst blocks the counterparty of their own fraud case, recorded under their name', async () => {
    const { rows } = await clients.analyst.query<{ id: string }>(
      `SELECT aether_block_from_case($1, 'counterparty', 'M_U_fraud_mine', 'mule of a confirmed fraud') AS id`,
      [cases.fraudMine],
    )
    const entry = await clients.admin.query<{ created_by: string }>(
      `SELECT created_by FROM lists WHERE id = $1`,
      [rows[0]?.id],
    )
    expect(entry.rows[0]?.created_by).toBe(team.logins.analyst)
  })

  it('a supervisor reassigns and bulk-closes cases of another analyst', async () => {
    const supervisor = clients.supervisor
    const moved = await supervisor.query(`UPDATE cases SET assignee_id = $1 WHERE id = $2`, [
      analystIds.analyst,
      cases.sup1,
    ])
    expect(moved.rowCount).toBe(1)
    const closed = await supervisor.query(`UPDATE cases SET ${close} WHERE id = ANY ($1)`, [
      [cases.sup1, cases.sup2],
    ])
    expect(closed.rowCount).toBe(2)
  })

  it('an admin saves a rules version and a list entry, each audited under their login', async () => {
    const admin = clients.admin
    const saved = await admin.query<{ author: string }>(
      `INSERT INTO rules (version, definition, comment) VALUES (2, '{"rules": []}', 'tighter') RETURNING author`,
    )
    expect(saved.rows[0]?.author).toBe(team.logins.admin)
    await admin.query(`INSERT INTO lists (kind, value, reason) VALUES ('device', 'dev-x', 'shared by mules')`)
    const trail = await admin.query<{ entity: string; actor: string; after: unknown }>(
      `SELECT entity, actor, after FROM audit_log WHERE entity IN ('rules', 'lists') AND actor = session_user`,
    )
    expect(trail.rows.map((row) => row.entity).sort()).toEqual(['lists', 'rules'])
  })

  it("an admin lets an analyst's desk ingest, and takes it back", async () => {
    const admin = new AnalystDirectory(team.owner.db)
    const insert = () =>
      inRollback(clients.analyst2, () =>
        clients.analyst2.query(
          `INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency)
           VALUES (gen_random_uuid(), now(), 'U_desk', 'M_desk', 'PAYMENT', 3.20, 'USD')`,
        ),
      )
    expect((await admin.setIngest(team.logins.analyst2, true)).ingests).toBe(true)
    expect((await insert()).rowCount).toBe(1)
    await attempt("an analyst whose desk ingests resolves someone else's case", () =>
      untouched(`UPDATE cases SET ${close} WHERE id = $1`, () => [cases.mine])('analyst2'),
    )
    await attempt('an analyst whose desk ingests reads the team webhook URL', () =>
      denied(`SELECT value FROM triage_settings`)('analyst2'),
    )
    await admin.setIngest(team.logins.analyst2, false)
    await attempt('an analyst whose ingest right was taken back inserts a transaction', () =>
      failsWith(['42501'], insert),
    )
  })

  it('a pipeline worker stores transactions, scores and alerts', async () => {
    const worker = clients.ingest
    const txn = randomUUID()
    await worker.query(
      `INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency,
                                 score, decision, reasons, model_version, rules_version)
       VALUES ($1, now(), 'U_stream', 'M_stream', 'PAYMENT', 12.50, 'USD', 80, 'review', '[]', 'm1', 1)`,
      [txn],
    )
    expect((await worker.query(`SELECT score FROM scores WHERE txn_id = $1`, [txn])).rows).toEqual([
      { score: 80 },
    ])
    expect((await worker.query(`SELECT 1 FROM rules`)).rowCount).toBeGreaterThan(0)
  })
})

describe('disabling an analyst', () => {
  let adminStore: Store
  let leaver: string
  let session: pg.Client

  beforeAll(async () => {
    adminStore = openPostgresStore({ connectionString: urlAs(team.database.url, team.logins.admin), max: 1 })
    leaver = team.track(`sec_leaver_${randomBytes(4).toString('hex')}`)
    await new AnalystDirectory(adminStore.db).add({
      login: leaver,
      displayName: 'Leaving analyst',
      role: 'analyst',
      password: randomBytes(16).toString('hex'),
    })
    session = await team.connect(leaver)
    expect((await session.query('SELECT count(*) FROM cases')).rowCount).toBe(1)
  })

  afterAll(async () => {
    await adminStore?.close()
  })

  it('ends their open session, refuses their next login, and leaves them no group rights', async () => {
    const ended = new Promise<unknown>((resolve) => session.once('error', resolve))
    const disabled = await new AnalystDirectory(adminStore.db).disable(leaver)
    expect(disabled.disabledAt).not.toBeNull()
    await attempt("a disabled analyst's open session stays connected", async () => {
      const error = (await ended) as { code?: string; message: string }
      const next = await session.query('SELECT 1').then(
        () => 'answered',
        () => 'refused',
      )
      return error.code === '57P01' && next === 'refused'
        ? { refused: true, detail: `57P01 ${error.message}` }
        : { refused: false, detail: `session error ${error.code}, next query ${next}` }
    })
    // Disabled in this database only (migration 0007): its CONNECT is gone, the login is left alone.
    await attempt('a disabled analyst signs in again', () => failsWith(['42501'], () => team.connect(leaver)))
    await attempt('a disabled analyst keeps the rights of a group', async () => {
      const { rows } = await clients.admin.query<{ groups: number }>(
        `SELECT count(*)::int AS groups FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1`,
        [leaver],
      )
      return rows[0]?.groups === 0
        ? { refused: true, detail: 'member of no group' }
        : { refused: false, detail: `still in ${rows[0]?.groups} groups` }
    })
    const enabled = await new AnalystDirectory(adminStore.db).enable(leaver)
    expect(enabled.disabledAt).toBeNull()
    const back = await team.connect(leaver)
    expect((await back.query('SELECT count(*) FROM transactions')).rowCount).toBe(1)
  })
})
