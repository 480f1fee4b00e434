import { randomBytes, randomUUID } from 'node:crypto'
import { Migrator, sql } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkPostgres } from '../../src/main/core/connection-check'
import { AnalystAdminError, AnalystDirectory } from '../../src/main/security/analysts'
import { scramVerifier } from '../../src/main/security/scram'
import { migrateToLatest } from '../../src/main/store/migrate'
import { migrations } from '../../src/main/store/migrations'
import { openPostgresStore, type Store } from '../../src/main/store/store'
import { liveFeed } from '../../src/main/triage/live'
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

  it('"Test connection" says the login is not an analyst of that database', async () => {
    const check = await checkPostgres({
      postgresUrl: urlAs(teamB.database.url, teamA.logins.analyst),
      postgresPassword: undefined,
      redisUrl: 'redis://127.0.0.1:6379',
      redisPassword: undefined,
    })
    expect(check).toMatchObject({ ok: false, problem: 'other' })
    expect(check.message).toBe(
      `"${teamA.logins.analyst}" is not an analyst of the database "${teamB.database.name}": ask one of its admins to add you.`,
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
