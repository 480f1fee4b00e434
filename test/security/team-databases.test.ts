import { execFile } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { Migrator, sql } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkPostgres } from '../../src/main/core/connection-check'
import { SessionSentinel, type SessionEnd } from '../../src/main/core/session-sentinel'
import { AnalystAdminError, AnalystDirectory } from '../../src/main/security/analysts'
import { scramVerifier } from '../../src/main/security/scram'
import { migrateToLatest } from '../../src/main/store/migrate'
import { migrations } from '../../src/main/store/migrations'
import { openPostgresStore, type Store } from '../../src/main/store/store'
import { liveFeed } from '../../src/main/triage/live'
import { ACCOUNT_DISABLED_MESSAGE } from '../../src/shared/session-contract'
import type { LiveEvent } from '../../src/shared/triage-contract'
import { createTestDatabase, SHARED_POSTGRES_URL, type TestDatabase } from '../support/services'
import { attempt, failsWith, type Outcome } from './support/attempts'
import { openTeamDatabase, urlAs, type Member, type TeamDatabase } from './support/team-database'

/**
 * Two team databases on one server: a login is a member of the databases it was added to and of no
 * other, whatever its role there; and nobody can make a workstation show an alert that is not stored.
 */

let teamA: TeamDatabase
let teamB: TeamDatabase
/** A case and an alert of B, as B's owner stored them. */
const inB = { caseId: 0, alertId: 0 }

async function storeAlert(owner: pg.Client, userId: string): Promise<{ alertId: number; caseId: number }> {
  const txn = randomUUID()
  await owner.query(
    `INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency)
     VALUES ($1, now(), $2, 'M_shop', 'TRANSFER', 9100.00, 'USD')`,
    [txn, userId],
  )
  const { rows } = await owner.query<{ id: string; case_id: string }>(
    `INSERT INTO alerts (txn_id, score, decision) VALUES ($1, 93, 'block') RETURNING id, case_id`,
    [txn],
  )
  return { alertId: Number(rows[0]?.id), caseId: Number(rows[0]?.case_id) }
}

/** `aether` from source as an operator runs it: a real process. */
const CLI = fileURLToPath(new URL('../support/aether-cli.ts', import.meta.url))
function aether(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', CLI, ...args], (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }),
    )
    child.stdin?.end(stdin ?? '')
  })
}

const ownerOf = (team: TeamDatabase) => team.connect(new URL(team.database.url).username || 'postgres')

/** Opens a connection as a login of one team database to the other. */
async function crossConnect(from: TeamDatabase, member: Member, to: TeamDatabase) {
  const client = new pg.Client({ connectionString: urlAs(to.database.url, from.logins[member]) })
  client.on('error', () => {})
  await client.connect()
  return client
}

/** What the server says to a statement over a connection of the other database's member. */
async function refusedThere(client: pg.Client, text: string, params: unknown[] = []): Promise<Outcome> {
  return failsWith(['42501'], async () => {
    await client.query('BEGIN')
    try {
      await client.query(text, params)
    } finally {
      await client.query('ROLLBACK')
    }
  })
}

beforeAll(async () => {
  teamA = await openTeamDatabase()
  teamB = await openTeamDatabase()
  const ownerB = await ownerOf(teamB)
  const stored = await storeAlert(ownerB, 'U_of_b')
  // A has a transaction too, so reading A's rows shows something to count.
  await storeAlert(await ownerOf(teamA), 'U_of_a')
  inB.caseId = stored.caseId
  inB.alertId = stored.alertId
})

afterAll(async () => {
  await teamA?.dispose()
  await teamB?.dispose()
})

describe('a login of one team database and another database on the same server', () => {
  const STAFF: Member[] = ['analyst', 'supervisor', 'admin', 'ingest']

  for (const member of STAFF)
    it(`${member} of A cannot connect to B, and is told why`, async () => {
      await attempt(`${member} of one team database connects to another`, () =>
        failsWith(['42501'], () => crossConnect(teamA, member, teamB)),
      )
    })

  it('"Test connection" says the login may not use that database, and why it may be', async () => {
    const check = await checkPostgres({
      postgresUrl: urlAs(teamB.database.url, teamA.logins.analyst),
      postgresPassword: undefined,
      redisUrl: 'redis://127.0.0.1:6379',
      redisPassword: undefined,
    })
    expect(check).toMatchObject({ ok: false, problem: 'other' })
    expect(check.message).toBe(
      `"${teamA.logins.analyst}" may not use the database "${teamB.database.name}": not one of its analysts, or disabled there by an administrator. Ask one of its admins.`,
    )
  })

  describe('even when CONNECT was granted to PUBLIC again by mistake', () => {
    const clients = {} as Record<Member, pg.Client>

    beforeAll(async () => {
      for (const team of [teamA, teamB]) {
        const owner = await ownerOf(team)
        await owner.query(`GRANT CONNECT ON DATABASE ${team.database.name} TO PUBLIC`)
      }
      for (const member of STAFF) clients[member] = await crossConnect(teamA, member, teamB)
    })

    afterAll(async () => {
      await Promise.all(Object.values(clients).map((client) => client.end().catch(() => {})))
      // Put the door back, so what follows meets the databases as 0007 leaves them.
      for (const team of [teamA, teamB]) {
        const owner = await ownerOf(team)
        await owner.query(`REVOKE CONNECT ON DATABASE ${team.database.name} FROM PUBLIC`)
      }
    })

    const acrossActions: [string, string, () => unknown[]][] = [
      ['reads the transactions of another team database', 'SELECT * FROM transactions', () => []],
      ['reads the cases of another team database', 'SELECT * FROM cases', () => []],
      ['reads the audit trail of another team database', 'SELECT * FROM audit_log', () => []],
      ['reads the analysts of another team database', 'SELECT * FROM analysts', () => []],
      [
        'closes a case of another team database',
        `UPDATE cases SET status = 'closed', outcome = 'false_positive', closed_at = now() WHERE id = $1`,
        () => [inB.caseId],
      ],
      [
        'adds a note to a case of another team database',
        `INSERT INTO case_events (case_id, action, note) VALUES ($1, 'note', 'from elsewhere')`,
        () => [inB.caseId],
      ],
      [
        'stores a transaction in another team database',
        `INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency)
         VALUES (gen_random_uuid(), now(), 'U_x', 'M_x', 'PAYMENT', 1, 'USD')`,
        () => [],
      ],
      [
        'blocks from a case of another team database',
        `SELECT aether_block_from_case($1, 'user', 'U_of_b', 'fraud')`,
        () => [inB.caseId],
      ],
    ]
    for (const [action, text, params] of acrossActions)
      for (const member of STAFF)
        it(`${member} of A ${action}`, () =>
          attempt(`${member} of one team database ${action}`, () =>
            refusedThere(clients[member], text, params()),
          ))

    it('an admin of A is no admin of B: the administration functions and groups refuse them', async () => {
      const admin = clients.admin
      const add = `SELECT aether_add_analyst('sec_planted', 'Planted', 'admin', $1)`
      await attempt('an admin of one team database adds an admin to another', () =>
        refusedThere(admin, add, [scramVerifier('a long enough password')]),
      )
      await attempt("an admin of one team database disables another's analyst", () =>
        refusedThere(admin, 'SELECT aether_disable_analyst($1)', [teamB.logins.analyst]),
      )
      await attempt("an admin of one team database promotes another's analyst", () =>
        refusedThere(admin, `SELECT aether_set_analyst_role($1, 'admin')`, [teamB.logins.analyst]),
      )
      await attempt("an admin of one team database switches to another's admin group", () =>
        refusedThere(admin, `SET ROLE "${teamB.groups.admin}"`),
      )
      await attempt("an admin of one team database grants themselves another's admin group", () =>
        refusedThere(admin, `GRANT "${teamB.groups.admin}" TO "${teamA.logins.admin}"`),
      )
      // The app's own door says it in words.
      const store = openPostgresStore({
        connectionString: urlAs(teamB.database.url, teamA.logins.admin),
        max: 1,
      })
      try {
        const refused = await new AnalystDirectory(store.db).disable(teamB.logins.analyst).then(
          () => undefined,
          (error: unknown) => error,
        )
        expect(refused).toBeInstanceOf(AnalystAdminError)
        expect(refused).toMatchObject({ failure: 'forbidden' })
      } finally {
        await store.close()
      }
    })

    it("an admin of B cannot reach A's analysts through B's functions either", async () => {
      const adminOfB = await teamB.connect(teamB.logins.admin)
      await attempt("an admin of one team database disables another's analyst from their own", () =>
        failsWith(['P0002'], () =>
          adminOfB.query('SELECT aether_disable_analyst($1)', [teamA.logins.analyst]),
        ),
      )
    })

    it('their own database still works for each of them (control)', async () => {
      const analyst = await teamA.connect(teamA.logins.analyst)
      expect((await analyst.query('SELECT count(*) FROM transactions')).rowCount).toBe(1)
      const worker = await teamA.connect(teamA.logins.ingest)
      const stored = await worker.query(
        `INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency)
         VALUES (gen_random_uuid(), now(), 'U_a', 'M_a', 'PAYMENT', 2.50, 'USD')`,
      )
      expect(stored.rowCount).toBe(1)
      const adminStore = openPostgresStore({
        connectionString: urlAs(teamA.database.url, teamA.logins.admin),
        max: 1,
      })
      try {
        const listed = await new AnalystDirectory(adminStore.db).list()
        expect(listed.map((each) => each.login)).toContain(teamA.logins.analyst2)
      } finally {
        await adminStore.close()
      }
    })
  })
})

describe('one login, an analyst of several team databases on the same server', () => {
  const suffix = randomBytes(4).toString('hex')
  let shared: string
  let adminA: Store
  let adminB: Store
  const sentinels: SessionSentinel[] = []

  const directory = (store: Store) => new AnalystDirectory(store.db)
  const refusal = (run: () => Promise<unknown>) =>
    run().then(
      () => undefined,
      (error: unknown) => error,
    )
  const passwordOf = async (login: string) => {
    const { rows } = await sql<{ rolpassword: string | null }>`
      SELECT rolpassword FROM pg_authid WHERE rolname = ${login}`.execute(teamA.owner.db)
    return rows[0]?.rolpassword
  }
  const groupsIn = async (team: TeamDatabase, login: string) => {
    const { rows } = await sql<{ rolname: string }>`
      SELECT g.rolname FROM pg_auth_members m
        JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
       WHERE r.rolname = ${login} AND g.rolname = ANY (${Object.values(team.groups)})`.execute(team.owner.db)
    return rows.map((row) => row.rolname)
  }
  const transactionsAs = async (client: pg.Client) =>
    Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM transactions')).rows[0]?.n)
  const credentials = (team: TeamDatabase, login: string) => ({
    postgresUrl: urlAs(team.database.url, login),
    postgresPassword: undefined,
  })

  beforeAll(async () => {
    adminA = openPostgresStore({ connectionString: urlAs(teamA.database.url, teamA.logins.admin), max: 1 })
    adminB = openPostgresStore({ connectionString: urlAs(teamB.database.url, teamB.logins.admin), max: 1 })
    shared = teamA.track(`sec_shared_${suffix}`)
    await directory(adminA).add({
      login: shared,
      displayName: 'Shared analyst',
      role: 'analyst',
      password: 'her own passphrase, set in A',
    })
  })

  afterAll(async () => {
    await Promise.all(sentinels.map((sentinel) => sentinel.close()))
    await adminA?.close()
    await adminB?.close()
  })

  it('refuses to add an existing login with a password, and changes nothing', async () => {
    const other = teamA.logins.analyst2
    const before = await passwordOf(other)
    const refused = await refusal(() =>
      directory(adminB).add({
        login: other,
        displayName: 'Taken over',
        role: 'admin',
        password: 'a password of my choosing',
      }),
    )
    expect(refused).toBeInstanceOf(AnalystAdminError)
    expect((refused as Error).message).toBe(
      `The login "${other}" already exists on this server: add it without a password. Its password is ` +
        'the same for every database it may use, so it is not changed here.',
    )
    const adminOfB = await teamB.connect(teamB.logins.admin)
    await attempt("an admin of one team database sets the password of another's analyst by adding them", () =>
      failsWith(['42710'], () =>
        adminOfB.query(`SELECT aether_add_analyst($1, 'Taken over', 'admin', $2)`, [
          other,
          scramVerifier('a password of my choosing'),
        ]),
      ),
    )
    expect(await passwordOf(other)).toBe(before)
    expect(await groupsIn(teamB, other)).toEqual([])
    expect((await directory(adminB).list()).map((each) => each.login)).not.toContain(other)
  })

  it('refuses a role that cannot log in or has members: adding it would make others analysts', async () => {
    const group = teamB.track(`sec_group_${suffix}`)
    const member = teamB.track(`sec_group_member_${suffix}`)
    await sql.raw(`CREATE ROLE ${group} NOLOGIN`).execute(teamB.owner.db)
    await sql.raw(`CREATE ROLE ${member} LOGIN IN ROLE ${group}`).execute(teamB.owner.db)
    const adminOfB = await teamB.connect(teamB.logins.admin)
    await attempt('an admin makes every member of a group role an analyst by adding the group', () =>
      failsWith(['22023'], () =>
        adminOfB.query(`SELECT aether_add_analyst($1, 'A group', 'analyst', NULL)`, [group]),
      ),
    )
    await sql.raw(`ALTER ROLE ${group} LOGIN`).execute(teamB.owner.db)
    await attempt('an admin makes every member of a login role an analyst by adding it', () =>
      failsWith(['22023'], () =>
        adminOfB.query(`SELECT aether_add_analyst($1, 'A group', 'analyst', NULL)`, [group]),
      ),
    )
    expect(await groupsIn(teamB, group)).toEqual([])
  })

  it('a new login still needs a first password', async () => {
    const refused = await refusal(() =>
      directory(adminB).add({ login: `sec_nopass_${suffix}`, displayName: 'No password', role: 'analyst' }),
    )
    expect(refused).toMatchObject({ failure: 'invalid', message: expect.stringMatching(/first password/) })
  })

  it("an admin of B adds an analyst of A without a password: they work in both, each database's role its own", async () => {
    const before = await passwordOf(shared)
    const added = await directory(adminB).add({
      login: shared,
      displayName: 'Shared in B',
      role: 'supervisor',
    })
    expect(added).toMatchObject({ login: shared, role: 'supervisor', disabledAt: null })
    expect(await passwordOf(shared)).toBe(before)

    const inA = await teamA.connect(shared)
    const inBToo = await teamB.connect(shared)
    expect(await transactionsAs(inA)).toBeGreaterThanOrEqual(1)
    expect(await transactionsAs(inBToo)).toBeGreaterThanOrEqual(1)
    const supervises = async (client: pg.Client) =>
      (
        await client.query<{ yes: boolean }>(
          `SELECT pg_has_role(current_user, aether_team_role('supervisor'), 'USAGE') AS yes`,
        )
      ).rows[0]?.yes
    expect(await supervises(inA)).toBe(false)
    expect(await supervises(inBToo)).toBe(true)
    expect((await directory(adminA).list()).find((each) => each.login === shared)).toMatchObject({
      role: 'analyst',
      displayName: 'Shared analyst',
    })
    expect((await directory(adminB).list()).find((each) => each.login === shared)).toMatchObject({
      role: 'supervisor',
      displayName: 'Shared in B',
    })
  })

  it('disabled in B: refused in B with a clear message, its sessions on B ended, still working in A', async () => {
    const inA = await teamA.connect(shared)
    const inBToo = await teamB.connect(shared)
    const endedInB = new Promise<{ code?: string }>((resolve) => inBToo.once('error', resolve))
    const sentinelEnds: Record<'A' | 'B', SessionEnd[]> = { A: [], B: [] }
    let endOfB: (end: SessionEnd) => void = () => {}
    const sentinelB = new Promise<SessionEnd>((resolve) => (endOfB = resolve))
    // Both workstations' sentinels are connected before the disabling begins.
    sentinels.push(
      await SessionSentinel.watch(credentials(teamB, shared), (end) => {
        sentinelEnds.B.push(end)
        endOfB(end)
      }),
      await SessionSentinel.watch(credentials(teamA, shared), (end) => sentinelEnds.A.push(end)),
    )

    const disabled = await directory(adminB).disable(shared)
    expect(disabled.disabledAt).not.toBeNull()

    await attempt('an analyst disabled in one team database keeps their open session there', async () => {
      const error = await endedInB
      return error.code === '57P01'
        ? { refused: true, detail: '57P01: the session on that database was terminated' }
        : { refused: false, detail: `session error ${error.code}` }
    })
    await attempt('an analyst disabled in one team database connects to it again', () =>
      failsWith(['42501'], () => teamB.connect(shared)),
    )
    expect(await groupsIn(teamB, shared)).toEqual([])
    // The workstation signed in to B says why it stopped; "Test connection" says it may not connect.
    expect(await sentinelB).toEqual({ problem: 'account_disabled', message: ACCOUNT_DISABLED_MESSAGE })
    const check = await checkPostgres({
      ...credentials(teamB, shared),
      redisUrl: 'redis://127.0.0.1:6379',
      redisPassword: undefined,
    })
    expect(check).toMatchObject({ ok: false })
    expect(check.message).toMatch(/disabled/)

    // A is untouched: the open session answers, a new one is let in, nothing ended its workstation.
    expect(await transactionsAs(inA)).toBeGreaterThanOrEqual(1)
    expect(await transactionsAs(await teamA.connect(shared))).toBeGreaterThanOrEqual(1)
    expect(await groupsIn(teamA, shared)).toEqual([teamA.groups.analyst])
    expect(sentinelEnds.A).toEqual([])
    expect((await directory(adminA).list()).find((each) => each.login === shared)?.disabledAt).toBeNull()
    expect((await directory(adminB).list()).find((each) => each.login === shared)?.disabledAt).not.toBeNull()
  })

  it('enabled in B again, works in B again with its role there', async () => {
    const enabled = await directory(adminB).enable(shared)
    expect(enabled).toMatchObject({ disabledAt: null, role: 'supervisor' })
    expect(await transactionsAs(await teamB.connect(shared))).toBeGreaterThanOrEqual(1)
    expect(await groupsIn(teamB, shared)).toEqual([teamB.groups.supervisor])
  })

  it("a role change in B leaves the login's groups elsewhere, the cluster-wide ones of 0002 included", async () => {
    // A database on the server not migrated to 0007 yet still gives its rights to 0002's groups.
    await sql.raw(`GRANT aether_analyst TO ${shared}`).execute(teamA.owner.db)
    const changed = await directory(adminB).setRole(shared, 'admin')
    expect(changed.role).toBe('admin')
    expect(await groupsIn(teamB, shared)).toEqual([teamB.groups.admin])
    expect(await groupsIn(teamA, shared)).toEqual([teamA.groups.analyst])
    const { rows } = await sql<{ member: boolean }>`
      SELECT pg_has_role(${shared}, 'aether_analyst', 'MEMBER') AS member`.execute(teamA.owner.db)
    expect(rows[0]?.member).toBe(true)
    await directory(adminB).setRole(shared, 'supervisor')
  })

  it('`aether analyst add` adds an existing login without a password, and refuses to set one', async () => {
    const other = teamA.logins.analyst2
    const before = await passwordOf(other)
    const asAdminOfB = urlAs(teamB.database.url, teamB.logins.admin)
    const withPassword = await aether(
      ['analyst', 'add', '--url', asAdminOfB, '--password-stdin', other],
      'a password of my choosing\n',
    )
    await attempt(
      "an admin of one team database sets another's password with `aether analyst add`",
      async () =>
        withPassword.code !== 0 &&
        /already exists on this server: add it without a password/.test(withPassword.stderr)
          ? { refused: true, detail: withPassword.stderr.trim() }
          : {
              refused: false,
              detail: `exit ${withPassword.code}: ${withPassword.stdout}${withPassword.stderr}`,
            },
    )
    const added = await aether(['analyst', 'add', '--url', asAdminOfB, '--name', 'Second in B', other])
    expect(added.stderr).toBe('')
    expect(added.stdout).toContain(`Added ${other} (Second in B), analyst, enabled`)
    expect(added.stdout).toMatch(/already had a login on this server; their password is unchanged/)
    expect(added.stdout).not.toMatch(/shown once/)
    expect(await passwordOf(other)).toBe(before)
    expect(await transactionsAs(await teamB.connect(other))).toBeGreaterThanOrEqual(1)
    const listed = await aether(['analyst', 'list', '--url', asAdminOfB])
    expect(listed.stdout).toContain(`${other} (Second in B), analyst, enabled`)
  })
})

describe('migrating a team database made before one-database-per-analyst', () => {
  let database: TestDatabase
  let owner: Store
  const suffix = randomBytes(4).toString('hex')
  const logins = {
    analyst: `sec_legacy_analyst_${suffix}`,
    worker: `sec_legacy_worker_${suffix}`,
    elsewhere: `sec_legacy_elsewhere_${suffix}`,
  }
  const clients: pg.Client[] = []
  const connect = async (login: string) => {
    const client = new pg.Client({ connectionString: urlAs(database.url, login) })
    client.on('error', () => {})
    await client.connect()
    clients.push(client)
    return client
  }

  beforeAll(async () => {
    database = await createTestDatabase('aether_sec_legacy')
    owner = openPostgresStore({ connectionString: database.url, max: 2 })
    const before = await new Migrator({
      db: owner.db,
      provider: { getMigrations: async () => migrations },
    }).migrateTo('0006_scoring_notify')
    if (before.error !== undefined) throw before.error
    // As 0002 made members: an analyst of this database, a worker, and an analyst of another database.
    await sql`SELECT aether_add_analyst(${logins.analyst}, 'Legacy analyst', 'analyst', ${scramVerifier('not-used-with-trust')})`.execute(
      owner.db,
    )
    await sql.raw(`CREATE ROLE ${logins.worker} LOGIN IN ROLE aether_ingest`).execute(owner.db)
    await sql.raw(`CREATE ROLE ${logins.elsewhere} LOGIN IN ROLE aether_analyst`).execute(owner.db)
    await migrateToLatest(owner)
  })

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end().catch(() => {})))
    await owner?.close()
    await database?.drop()
    const admin = new pg.Client({ connectionString: SHARED_POSTGRES_URL })
    await admin.connect()
    try {
      for (const login of Object.values(logins)) await admin.query(`DROP ROLE IF EXISTS ${login}`)
    } finally {
      await admin.end()
    }
  })

  it('keeps its analysts and workers, and shuts out the analysts of other databases', async () => {
    const analyst = await connect(logins.analyst)
    expect((await analyst.query('SELECT count(*) FROM transactions')).rowCount).toBe(1)
    const worker = await connect(logins.worker)
    const stored = await worker.query(
      `INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency)
       VALUES (gen_random_uuid(), now(), 'U_old', 'M_old', 'PAYMENT', 4.10, 'USD')`,
    )
    expect(stored.rowCount).toBe(1)
    // It keeps posting the team webhook: 0024 puts the workers of before in the worker group.
    const posts = await worker.query<{ member: boolean }>(
      `SELECT pg_has_role(session_user, aether_team_role('worker'), 'MEMBER') AS member`,
    )
    expect(posts.rows).toEqual([{ member: true }])
    expect((await worker.query(`SELECT value FROM triage_settings`)).rowCount).toBe(0)
    await attempt('an analyst of another database connects after the migration', () =>
      failsWith(['42501'], () => connect(logins.elsewhere)),
    )
    await sql.raw(`GRANT CONNECT ON DATABASE ${database.name} TO ${logins.elsewhere}`).execute(owner.db)
    const elsewhere = await connect(logins.elsewhere)
    await attempt('an analyst of another database reads transactions after the migration', () =>
      refusedThere(elsewhere, 'SELECT * FROM transactions'),
    )
  })
})

describe('the worker group (0024)', () => {
  it('is made once for a database and the copy of it, whichever migrates second', async () => {
    const original = await createTestDatabase('aether_sec_orig')
    const copyName = `${original.name}_copy`
    const admin = new pg.Client({ connectionString: SHARED_POSTGRES_URL })
    await admin.connect()
    let copied: TestDatabase | undefined
    try {
      const owner = openPostgresStore({ connectionString: original.url, max: 1 })
      const before = await new Migrator({
        db: owner.db,
        provider: { getMigrations: async () => migrations },
      }).migrateTo('0023_admin_clears_webhook')
      await owner.close()
      if (before.error !== undefined) throw before.error
      await admin.query(`CREATE DATABASE ${copyName} TEMPLATE ${original.name}`)
      const url = new URL(original.url)
      url.pathname = `/${copyName}`
      copied = { url: url.toString(), name: copyName, drop: async () => {} }
      const groups: string[] = []
      for (const database of [original, copied]) {
        const store = openPostgresStore({ connectionString: database.url, max: 1 })
        try {
          await migrateToLatest(store)
          const { rows } = await sql<{ worker: string }>`SELECT aether_team_role('worker') AS worker`.execute(
            store.db,
          )
          groups.push(rows[0]?.worker ?? '')
        } finally {
          await store.close()
        }
      }
      // The copy grants to the original's groups (as it does for the others): the same worker group.
      expect(groups[0]).toMatch(/_worker$/)
      expect(groups[1]).toBe(groups[0])
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${copyName} WITH (FORCE)`)
      await admin.end()
      await original.drop()
    }
  }, 60_000)

  it('goes with the rest when an analyst whose login is in it is disabled', async () => {
    const team = await openTeamDatabase()
    try {
      const login = team.track(`sec_both_${randomBytes(4).toString('hex')}`)
      const directory = new AnalystDirectory(team.owner.db)
      await directory.add({
        login,
        displayName: 'Analyst and worker',
        role: 'analyst',
        password: 'x'.repeat(16),
      })
      await sql.raw(`GRANT ${team.groups.worker} TO ${login}`).execute(team.owner.db)
      await directory.disable(login)
      const { rows } = await sql<{ rolname: string }>`
        SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
         WHERE r.rolname = ${login}`.execute(team.owner.db)
      expect(rows).toEqual([])
      await attempt('a disabled analyst whose login was in the worker group connects', () =>
        failsWith(['42501'], () => team.connect(login)),
      )
    } finally {
      await team.dispose()
    }
  }, 60_000)
})

describe('a forged NOTIFY on the alert channel', () => {
  const forgers: Member[] = ['analyst', 'ingest']

  it('shows nothing that is not in the store, and a real alert still arrives', async () => {
    const ownerA = await ownerOf(teamA)
    const old = await storeAlert(ownerA, 'U_old_news')
    const store = openPostgresStore({
      connectionString: urlAs(teamA.database.url, teamA.logins.supervisor),
      max: 2,
    })
    const abort = new AbortController()
    try {
      const feed = liveFeed(store).follow(abort.signal)[Symbol.asyncIterator]()
      expect((await feed.next()).value).toEqual({ kind: 'listening' })
      const forged = `${old.alertId},${inB.alertId},987654321`
      for (const member of forgers) {
        const forger = await teamA.connect(teamA.logins[member])
        await forger.query(`NOTIFY aether_alerts, '${forged}'`)
        await forger.query(`SELECT pg_notify('aether_alerts', $1)`, [
          JSON.stringify({ txnId: randomUUID(), userId: 'U_fake', amount: '1000000.00', decision: 'block' }),
        ])
      }
      const first = await storeAlert(ownerA, 'U_real_1')
      const second = await storeAlert(ownerA, 'U_real_2')
      const seen: number[] = []
      while (!seen.includes(second.alertId)) {
        const next = await feed.next()
        if (next.done === true) break
        const event = next.value as LiveEvent
        if (event.kind === 'alert') seen.push(event.id)
      }
      abort.abort()
      for (const member of forgers)
        await attempt(`${member} makes workstations show an alert by a forged NOTIFY`, async () =>
          seen.join() === [first.alertId, second.alertId].join()
            ? { refused: true, detail: 'the feed showed only the alerts stored since it began' }
            : { refused: false, detail: `the feed showed alerts ${seen.join(', ')}` },
        )
    } finally {
      abort.abort()
      await store.close()
    }
  })
})
