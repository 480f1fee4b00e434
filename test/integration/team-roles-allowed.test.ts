import { randomBytes, randomUUID } from 'node:crypto'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_RULES } from '../../src/shared/rules'
import type { Analyst } from '../../src/shared/triage-contract'
import { AnalystDirectory } from '../../src/main/security/analysts'
import { ApiKeyAdmin } from '../../src/main/security/api-keys'
import type { StoreDb } from '../../src/main/store/schema'
import { openPostgresStore, type Store } from '../../src/main/store/store'
import { currentAnalyst } from '../../src/main/triage/analysts'
import {
  addNote,
  assignCase,
  bulkCases,
  caseDetail,
  nextCase,
  transitionCase,
} from '../../src/main/triage/cases'
import { addListEntry, listEntries, removeListEntry, updateListEntry } from '../../src/main/triage/lists'
import { revertRules, ruleVersions, saveRules } from '../../src/main/triage/rules'
import { rulePublisher } from '../../src/main/triage/router'
import { setWebhook, webhookSetting } from '../../src/main/triage/webhook'
import type { StoreScope } from '../../src/main/store/scope'
import { openTeamDatabase, urlAs, type TeamDatabase } from '../security/support/team-database'

/**
 * The other side of test/security: each write action the app offers a role, through the app's own
 * functions (those src/main/triage/router.ts, the session and API-key routers and the CLI call), on a
 * fresh team database as that role's own login, must succeed and have its effect. A column the app names
 * but the role may not write, a policy or a trigger that refuses what the UI offers, shows up here.
 *
 * Who is meant to do what (README "Security model", migrations 0002/0004/0007/0019/0021/0023, the UI):
 * - analysts: Next case, Assign to me, back to the queue, escalate/back to review, resolve (with a
 *   blocklist from a fraud case), notes, bulk escalate and closing one case, on unassigned cases and
 *   their own;
 * - supervisors: all that on anyone's case, reassigning between analysts, closing several at once;
 * - admins: all that, plus rules, lists, the team webhook, analysts and API keys.
 */

type Login = 'analyst' | 'analyst2' | 'supervisor' | 'admin'

let team: TeamDatabase
let owner: pg.Client
const stores: Store[] = []
const dbs = {} as Record<Login, StoreDb>
const me = {} as Record<Login, Analyst>
let seq = 0

async function openCase(
  assignee: Login | null,
  {
    priority = 0,
    status = 'open',
    user = `U_roles_${++seq}_${randomBytes(3).toString('hex')}`,
    type = 'TRANSFER',
  }: { priority?: number; status?: 'open' | 'in_review' | 'escalated'; user?: string; type?: string } = {},
) {
  seq++
  const assigneeId = assignee === null ? null : me[assignee].id
  const { rows } = await owner.query<{ id: string }>(
    `INSERT INTO cases (user_id, assignee_id, status, priority) VALUES ($1, $2, $3, $4) RETURNING id`,
    [user, assigneeId, assignee !== null && status === 'open' ? 'in_review' : status, priority],
  )
  const id = Number(rows[0]?.id)
  const txn = randomUUID()
  const ip = `10.${seq % 250}.${(seq * 7) % 250}.9`
  await owner.query(
    `INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency, source_ip, device_id)
     VALUES ($1, now(), $2, $3, $6, 9500.00, 'USD', $4, $5)`,
    [txn, user, `M_${user}`, ip, `dev_${user}`, type],
  )
  await owner.query(`INSERT INTO alerts (txn_id, case_id, score, decision) VALUES ($1, $2, 91, 'block')`, [
    txn,
    id,
  ])
  await owner.query(`INSERT INTO case_events (case_id, action, note) VALUES ($1, 'opened', 'seeded')`, [id])
  return { id, user, txn, ip, counterparty: `M_${user}`, device: `dev_${user}`, version: await versionOf(id) }
}

async function versionOf(id: number): Promise<number> {
  const { rows } = await owner.query<{ version: number }>(`SELECT version FROM cases WHERE id = $1`, [id])
  return Number(rows[0]?.version)
}

async function caseRow(id: number) {
  const { rows } = await owner.query<{
    status: string
    outcome: string | null
    assignee_id: string | null
    updated_by: string
  }>(`SELECT status, outcome, assignee_id, updated_by FROM cases WHERE id = $1`, [id])
  const row = rows[0]
  return { ...row, assignee_id: row?.assignee_id == null ? null : Number(row.assignee_id) }
}

async function events(id: number) {
  const { rows } = await owner.query<{ action: string; actor: string; note: string | null }>(
    `SELECT action, actor, note FROM case_events WHERE case_id = $1 ORDER BY id`,
    [id],
  )
  return rows
}

async function labels(txn: string) {
  const { rows } = await owner.query<{ outcome: string; labelled_by: string }>(
    `SELECT outcome, labelled_by FROM labels WHERE txn_id = $1`,
    [txn],
  )
  return rows
}

beforeAll(async () => {
  team = await openTeamDatabase()
  owner = await team.connect(new URL(team.database.url).username || 'postgres')
  for (const login of ['analyst', 'analyst2', 'supervisor', 'admin'] as const) {
    const store = openPostgresStore({
      connectionString: urlAs(team.database.url, team.logins[login]),
      max: 1,
    })
    stores.push(store)
    dbs[login] = store.db
  }
}, 120_000)

afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()))
  await team?.dispose()
})

describe('who the app says is signed in', () => {
  for (const login of ['analyst', 'analyst2', 'supervisor', 'admin'] as const)
    it(`currentAnalyst() names the ${login} with their role`, async () => {
      me[login] = await currentAnalyst(dbs[login], 'team')
      expect(me[login].login).toBe(team.logins[login])
      expect(me[login].role).toBe(login === 'analyst2' ? 'analyst' : login)
    })
})

describe('an analyst triages unassigned cases and their own', () => {
  it('analyst: Next case hands them the top unassigned case', async () => {
    const top = await openCase(null, { priority: 900 })
    const taken = await nextCase(dbs.analyst, me.analyst)
    expect(taken?.id).toBe(top.id)
    expect(taken?.assignee?.id).toBe(me.analyst.id)
    expect(taken?.status).toBe('in_review')
    expect((await events(top.id)).at(-1)).toMatchObject({ action: 'assigned', actor: team.logins.analyst })
  })

  it('analyst: Assign to me on an unassigned case', async () => {
    const free = await openCase(null)
    const assigned = await assignCase(dbs.analyst, me.analyst, {
      id: free.id,
      version: free.version,
      assigneeId: me.analyst.id,
    })
    expect(assigned.assignee?.id).toBe(me.analyst.id)
    expect(assigned.status).toBe('in_review')
    expect((await caseRow(free.id)).assignee_id).toBe(me.analyst.id)
  })

  it('analyst: Reassign "back to the queue" on their own case', async () => {
    const mine = await openCase('analyst')
    const back = await assignCase(dbs.analyst, me.analyst, {
      id: mine.id,
      version: mine.version,
      assigneeId: null,
      reason: 'not mine after all',
    })
    expect(back.assignee).toBeNull()
    expect(back.status).toBe('open')
    expect((await events(mine.id)).at(-1)).toMatchObject({ action: 'unassigned', actor: team.logins.analyst })
  })

  it('analyst: Escalate their own case, then Back to review', async () => {
    const mine = await openCase('analyst')
    const up = await transitionCase(dbs.analyst, me.analyst, {
      id: mine.id,
      version: mine.version,
      status: 'escalated',
    })
    expect(up.status).toBe('escalated')
    const back = await transitionCase(dbs.analyst, me.analyst, {
      id: mine.id,
      version: up.version,
      status: 'in_review',
    })
    expect(back.status).toBe('in_review')
    expect((await events(mine.id)).map((e) => e.action)).toEqual(['opened', 'escalated', 'in_review'])
  })

  it('analyst: adds a note to their own case', async () => {
    const mine = await openCase('analyst')
    const note = await addNote(dbs.analyst, mine.id, 'called the customer')
    expect(note).toMatchObject({ action: 'note', actor: team.logins.analyst, note: 'called the customer' })
  })

  it('analyst: adds a note to an unassigned case', async () => {
    const free = await openCase(null)
    const note = await addNote(dbs.analyst, free.id, 'looking at it')
    expect(note).toMatchObject({ action: 'note', actor: team.logins.analyst })
  })

  it('analyst: resolves their own case as a false positive (labels its transactions)', async () => {
    const mine = await openCase('analyst')
    const closed = await transitionCase(dbs.analyst, me.analyst, {
      id: mine.id,
      version: mine.version,
      status: 'closed',
      outcome: 'false_positive',
      note: 'known merchant',
    })
    expect(closed).toMatchObject({ status: 'closed', outcome: 'false_positive' })
    expect(await labels(mine.txn)).toEqual([{ outcome: 'false_positive', labelled_by: team.logins.analyst }])
  })

  it('analyst: resolves an unassigned case straight from the queue (takes it over)', async () => {
    const free = await openCase(null)
    const closed = await transitionCase(dbs.analyst, me.analyst, {
      id: free.id,
      version: free.version,
      status: 'closed',
      outcome: 'inconclusive',
    })
    expect(closed).toMatchObject({ status: 'closed', outcome: 'inconclusive' })
    expect(closed.assignee?.id).toBe(me.analyst.id)
  })

  it('analyst: resolves their own case as fraud and blocks its user, counterparty, IP and device', async () => {
    const mine = await openCase('analyst')
    const closed = await transitionCase(dbs.analyst, me.analyst, {
      id: mine.id,
      version: mine.version,
      status: 'closed',
      outcome: 'fraud_confirmed',
      note: 'mule',
      blocklist: { user: true, counterparties: [mine.counterparty], ips: [mine.ip], devices: [mine.device] },
    })
    expect(closed).toMatchObject({ status: 'closed', outcome: 'fraud_confirmed' })
    expect(await labels(mine.txn)).toEqual([{ outcome: 'fraud_confirmed', labelled_by: team.logins.analyst }])
    const { rows } = await owner.query<{ kind: string; value: string; created_by: string }>(
      `SELECT kind, value, created_by FROM lists WHERE value = ANY ($1) ORDER BY kind`,
      [[mine.user, mine.counterparty, mine.ip, mine.device]],
    )
    expect(rows).toEqual([
      { kind: 'counterparty', value: mine.counterparty, created_by: team.logins.analyst },
      { kind: 'device', value: mine.device, created_by: team.logins.analyst },
      { kind: 'ip', value: mine.ip, created_by: team.logins.analyst },
      { kind: 'user', value: mine.user, created_by: team.logins.analyst },
    ])
    expect((await events(mine.id)).map((e) => e.action)).toEqual(['opened', 'closed', 'blocklisted'])
  })

  it("analyst: resolves as fraud, blocking a related case's account and a device an admin listed already", async () => {
    const mine = await openCase('analyst')
    // The mule: the account this case transferred to, which then cashed out the same amount.
    const mule = await openCase(null, { user: mine.counterparty, type: 'CASH_OUT' })
    await owner.query(
      `INSERT INTO lists (kind, value, reason, expires_at) VALUES ('device', $1, 'admin', now() + interval '1 day')`,
      [mine.device],
    )
    const detail = await caseDetail(dbs.analyst, mine.id)
    expect(detail.related.map((r) => r.id)).toEqual([mule.id])
    const closed = await transitionCase(dbs.analyst, me.analyst, {
      id: mine.id,
      version: mine.version,
      status: 'closed',
      outcome: 'fraud_confirmed',
      blocklist: { relatedUsers: [mule.user], devices: [mine.device], expiresInDays: 30 },
    })
    expect(closed.status).toBe('closed')
    const { rows } = await owner.query<{ kind: string; reason: string; long: boolean }>(
      `SELECT kind, reason, expires_at > now() + interval '29 days' AS long FROM lists WHERE value = ANY ($1) ORDER BY kind`,
      [[mule.user, mine.device]],
    )
    expect(rows).toEqual([
      { kind: 'device', reason: 'admin', long: true },
      { kind: 'user', reason: expect.stringContaining(`Case ${mine.id}`), long: true },
    ])
  })

  it('analyst: bulk-escalates two of their own cases', async () => {
    const [a, b] = [await openCase('analyst'), await openCase('analyst')]
    const result = await bulkCases(dbs.analyst, me.analyst, {
      cases: [a, b].map(({ id, version }) => ({ id, version })),
      action: { kind: 'escalate', note: 'needs a second look' },
    })
    expect(result.refused).toEqual([])
    expect(result.updated.map((c) => c.status)).toEqual(['escalated', 'escalated'])
  })

  it('analyst: "Close all" with one of their own cases selected', async () => {
    const a = await openCase('analyst')
    const result = await bulkCases(dbs.analyst, me.analyst, {
      cases: [{ id: a.id, version: a.version }],
      action: { kind: 'close', outcome: 'false_positive' },
    })
    expect(result.refused).toEqual([])
    expect(result.updated[0]).toMatchObject({ status: 'closed', outcome: 'false_positive' })
  })

  it('analyst: opens a case detail of their own case', async () => {
    const mine = await openCase('analyst')
    const detail = await caseDetail(dbs.analyst, mine.id)
    expect(detail.alerts.map((alert) => alert.txnId)).toEqual([mine.txn])
  })
})

describe("a supervisor triages anyone's case", () => {
  it('supervisor: Next case', async () => {
    const top = await openCase(null, { priority: 950 })
    const taken = await nextCase(dbs.supervisor, me.supervisor)
    expect(taken?.id).toBe(top.id)
    expect(taken?.assignee?.id).toBe(me.supervisor.id)
  })

  it("supervisor: Assign to me on another analyst's case, with a reason", async () => {
    const theirs = await openCase('analyst2')
    const taken = await assignCase(dbs.supervisor, me.supervisor, {
      id: theirs.id,
      version: theirs.version,
      assigneeId: me.supervisor.id,
      reason: 'analyst2 is away',
    })
    expect(taken.assignee?.id).toBe(me.supervisor.id)
    expect((await events(theirs.id)).at(-1)).toMatchObject({
      action: 'assigned',
      actor: team.logins.supervisor,
    })
  })

  it("supervisor: Reassign another analyst's case to a third analyst", async () => {
    const theirs = await openCase('analyst2')
    const moved = await assignCase(dbs.supervisor, me.supervisor, {
      id: theirs.id,
      version: theirs.version,
      assigneeId: me.analyst.id,
      reason: 'rebalancing',
    })
    expect(moved.assignee?.id).toBe(me.analyst.id)
    expect((await caseRow(theirs.id)).assignee_id).toBe(me.analyst.id)
  })

  it("supervisor: Reassign another analyst's case back to the queue", async () => {
    const theirs = await openCase('analyst2')
    const back = await assignCase(dbs.supervisor, me.supervisor, {
      id: theirs.id,
      version: theirs.version,
      assigneeId: null,
      reason: 'unstaffed',
    })
    expect(back.assignee).toBeNull()
  })

  it("supervisor: escalates and adds a note to another analyst's case", async () => {
    const theirs = await openCase('analyst2')
    const up = await transitionCase(dbs.supervisor, me.supervisor, {
      id: theirs.id,
      version: theirs.version,
      status: 'escalated',
    })
    expect(up.status).toBe('escalated')
    expect(await addNote(dbs.supervisor, theirs.id, 'supervisor looked')).toMatchObject({
      action: 'note',
      actor: team.logins.supervisor,
    })
  })

  it("supervisor: resolves another analyst's case as fraud with a blocklist", async () => {
    const theirs = await openCase('analyst2')
    const closed = await transitionCase(dbs.supervisor, me.supervisor, {
      id: theirs.id,
      version: theirs.version,
      status: 'closed',
      outcome: 'fraud_confirmed',
      blocklist: { user: true, devices: [theirs.device] },
    })
    expect(closed).toMatchObject({ status: 'closed', outcome: 'fraud_confirmed' })
    expect(await labels(theirs.txn)).toEqual([
      { outcome: 'fraud_confirmed', labelled_by: team.logins.supervisor },
    ])
    const { rows } = await owner.query(`SELECT kind FROM lists WHERE value = ANY ($1) ORDER BY kind`, [
      [theirs.user, theirs.device],
    ])
    expect(rows).toEqual([{ kind: 'device' }, { kind: 'user' }])
  })

  it("supervisor: bulk-closes several of other analysts' cases", async () => {
    const picked = [await openCase('analyst2'), await openCase('analyst'), await openCase(null)]
    const result = await bulkCases(dbs.supervisor, me.supervisor, {
      cases: picked.map(({ id, version }) => ({ id, version })),
      action: { kind: 'close', outcome: 'false_positive', note: 'campaign of false alarms' },
    })
    expect(result.refused).toEqual([])
    expect(result.updated.map((c) => c.status)).toEqual(['closed', 'closed', 'closed'])
    for (const c of picked) expect((await labels(c.txn))[0]?.outcome).toBe('false_positive')
  })

  it("supervisor: bulk-escalates other analysts' cases", async () => {
    const picked = [await openCase('analyst2'), await openCase('analyst')]
    const result = await bulkCases(dbs.supervisor, me.supervisor, {
      cases: picked.map(({ id, version }) => ({ id, version })),
      action: { kind: 'escalate' },
    })
    expect(result.refused).toEqual([])
    expect(result.updated.map((c) => c.status)).toEqual(['escalated', 'escalated'])
  })
})

describe('an admin triages as a supervisor does', () => {
  it("admin: resolves another analyst's case as a false positive", async () => {
    const theirs = await openCase('analyst2')
    const closed = await transitionCase(dbs.admin, me.admin, {
      id: theirs.id,
      version: theirs.version,
      status: 'closed',
      outcome: 'false_positive',
    })
    expect(closed.status).toBe('closed')
  })
})

describe('an admin keeps the lists', () => {
  it('admin: adds, edits and removes list entries (a user and an IP network)', async () => {
    const user = await addListEntry(dbs.admin, {
      kind: 'user',
      value: 'U_admin_listed',
      reason: 'chargebacks',
    })
    expect(user).toMatchObject({ kind: 'user', value: 'U_admin_listed', createdBy: team.logins.admin })
    const net = await addListEntry(dbs.admin, {
      kind: 'ip',
      value: '203.0.113.0/24',
      reason: 'proxy range',
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    })
    expect(net.kind).toBe('ip')
    const edited = await updateListEntry(dbs.admin, {
      id: user.id,
      reason: 'chargebacks, confirmed',
      expiresAt: null,
    })
    expect(edited.reason).toBe('chargebacks, confirmed')
    expect(await removeListEntry(dbs.admin, net.id)).toEqual({ id: net.id })
    const left = await listEntries(dbs.admin, { search: 'U_admin_listed' })
    expect(left.map((entry) => entry.id)).toEqual([user.id])
  })
})

describe('an admin keeps the rules', () => {
  it('admin: saves a rules version, then reverts to the first', async () => {
    const saved = await saveRules(dbs.admin, {
      baseVersion: null,
      definition: { ...DEFAULT_RULES, thresholds: { review: 45, block: 85 } },
      comment: 'tighter',
    })
    expect(saved).toMatchObject({ version: 2, author: team.logins.admin })
    const reverted = await revertRules(dbs.admin, { version: 1, baseVersion: 2 })
    expect(reverted).toMatchObject({ version: 3, author: team.logins.admin })
    expect((await ruleVersions(dbs.analyst)).map((v) => v.version)).toEqual([3, 2, 1])
  })
})

describe('an admin publishes a backtested rule set (Datasets → publish)', () => {
  it('admin: rulePublisher() publishes B as the next version', async () => {
    const store = openPostgresStore({ connectionString: urlAs(team.database.url, team.logins.admin), max: 1 })
    stores.push(store)
    const scope = {
      requireStore: () => store,
      storeMode: () => 'team',
      onStoreSwitch: () => () => {},
    } as StoreScope
    const [latest] = await ruleVersions(store.db)
    const published = await rulePublisher(scope)(
      { ...DEFAULT_RULES, thresholds: { review: 50, block: 90 } },
      'from a backtest',
      latest?.version,
    )
    expect(published.version).toBe((latest?.version ?? 1) + 1)
  })
})

describe('an admin sets the team webhook', () => {
  it('admin: sets, changes and clears the webhook', async () => {
    const url = 'https://hooks.slack.com/services/T000/B000/roles-allowed'
    expect(await setWebhook(dbs.admin, { url })).toMatchObject({ url, set: true, setBy: team.logins.admin })
    expect(await setWebhook(dbs.admin, { url: `${url}-2` })).toMatchObject({ url: `${url}-2`, set: true })
    expect(await webhookSetting(dbs.supervisor)).toMatchObject({ readable: false, set: true })
    expect(await setWebhook(dbs.admin, { url: null })).toMatchObject({ url: null, set: false })
  })
})

describe('an admin administers analysts (Settings → Analysts, `aether analyst`)', () => {
  it('admin: lists analysts and the database groups', async () => {
    const directory = new AnalystDirectory(dbs.admin)
    const [listed, groups] = await Promise.all([directory.list(), directory.groups()])
    expect(listed.map((a) => a.login)).toContain(team.logins.analyst)
    expect(groups).toEqual(team.groups)
  })

  it('admin: adds an analyst, changes their role, lets their desk ingest, disables and enables them', async () => {
    const directory = new AnalystDirectory(dbs.admin)
    const login = team.track(`sec_new_${randomBytes(4).toString('hex')}`)
    const added = await directory.add({
      login,
      displayName: 'New analyst',
      role: 'analyst',
      password: randomBytes(16).toString('hex'),
    })
    expect(added).toMatchObject({ login, role: 'analyst' })
    expect(await directory.setRole(login, 'supervisor')).toMatchObject({ login, role: 'supervisor' })
    expect(await directory.setIngest(login, true)).toMatchObject({ login, ingests: true })
    expect(await directory.setIngest(login, false)).toMatchObject({ login, ingests: false })
    expect((await directory.disable(login)).disabledAt).not.toBeNull()
    expect((await directory.list()).find((a) => a.login === login)?.disabledAt).not.toBeNull()
    expect((await directory.enable(login)).disabledAt).toBeNull()
    const theirs = openPostgresStore({ connectionString: urlAs(team.database.url, login), max: 1 })
    stores.push(theirs)
    expect(await currentAnalyst(theirs.db, 'team')).toMatchObject({ login, role: 'supervisor' })
    expect((await directory.list()).find((a) => a.login === login)).toMatchObject({
      role: 'supervisor',
      disabledAt: null,
    })
  })
})

describe('an admin changes their own desk (Settings → Analysts, "Ingests" on their own row)', () => {
  it('admin: lets their own desk ingest, and takes it back, and still triages', async () => {
    const directory = new AnalystDirectory(dbs.admin)
    expect(await directory.setIngest(team.logins.admin, true)).toMatchObject({ ingests: true })
    expect(await directory.setIngest(team.logins.admin, false)).toMatchObject({ ingests: false })
    expect((await currentAnalyst(dbs.admin, 'team')).role).toBe('admin')
  })
})

describe('an admin adds a login the server already has (no password)', () => {
  it("admin: adds another database's analyst by login", async () => {
    const login = team.track(`sec_elsewhere_${randomBytes(4).toString('hex')}`)
    await owner.query(`CREATE ROLE ${login} LOGIN`)
    const added = await new AnalystDirectory(dbs.admin).add({
      login,
      displayName: 'From elsewhere',
      role: 'analyst',
    })
    expect(added).toMatchObject({ login, role: 'analyst', disabledAt: null })
  })
})

describe('an admin manages API keys (Settings → API keys, `aether apikey`)', () => {
  it('admin: creates, lists and revokes an API key', async () => {
    const keys = new ApiKeyAdmin(dbs.admin)
    const created = await keys.add(`gateway-${randomBytes(3).toString('hex')}`, ['submit', 'read'])
    expect(created.key).toMatch(/^aek_\d+_/)
    const listed = await keys.list()
    expect(listed.find((key) => key.id === created.id)).toMatchObject({
      name: created.name,
      createdBy: team.logins.admin,
      revokedAt: null,
    })
    const revoked = await keys.revoke(created.name)
    expect(revoked.id).toBe(created.id)
    expect((await keys.list()).find((key) => key.id === created.id)?.revokedAt).not.toBeNull()
  })
})
