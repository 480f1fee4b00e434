import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  addNote,
  assignCase,
  bulkCases,
  caseDetail,
  caseQueue,
  nextCase,
  transitionCase,
} from '../../src/main/triage/cases'
import { TriageConflictError, TriageForbiddenError } from '../../src/main/triage/errors'
import { rulePrecision } from '../../src/main/triage/rules'
import { uniqueName } from '../support/services'
import { openTeamDatabase, reason, seedScored, type SignedIn, type TeamDatabase } from '../support/triage'

/** Cases on a real team database, as real analysts: PostgreSQL's grants and row-level security apply. */

let team: TeamDatabase
let alice: SignedIn
let bob: SignedIn
let sue: SignedIn

beforeAll(async () => {
  team = await openTeamDatabase()
  alice = await team.signIn('analyst', 'Alice')
  bob = await team.signIn('analyst', 'Bob')
  sue = await team.signIn('supervisor', 'Sue')
})

afterAll(async () => {
  await team?.dispose()
})

const db = (who: SignedIn) => who.store.db
const owner = () => team.owner.db

async function openCaseOf(userId: string) {
  const row = await owner()
    .selectFrom('cases')
    .selectAll()
    .where('user_id', '=', userId)
    .where('status', '<>', 'closed')
    .executeTakeFirstOrThrow()
  return row
}

describe('alerts and cases', () => {
  it('opens one case per user and lets later alerts join it, keeping the highest score first in the queue', async () => {
    await seedScored(team.owner, [
      { userId: 'C-join', decision: 'review', score: 55, amount: '100.00' },
      { userId: 'C-join', decision: 'approve' },
      { userId: 'C-join', decision: 'block', score: 92, amount: '250.00' },
      { userId: 'C-other', decision: 'review', score: 60, amount: '10.00' },
    ])
    const joined = await openCaseOf('C-join')
    expect(joined).toMatchObject({ status: 'open', alert_count: 2, max_score: 92, amount_at_risk: '350.00' })
    const alerts = await owner()
      .selectFrom('alerts')
      .select('case_id')
      .where('user_id', '=', 'C-join')
      .execute()
    expect(alerts.map((alert) => alert.case_id)).toEqual([joined.id, joined.id])

    const queue = await caseQueue(db(alice), alice.analyst, { userId: 'C-join' })
    expect(queue.map((entry) => entry.id)).toEqual([joined.id])
    const all = await caseQueue(db(alice), alice.analyst, {})
    const positions = ['C-join', 'C-other'].map((user) => all.findIndex((entry) => entry.userId === user))
    expect(positions[0]).toBeLessThan(positions[1] ?? -1)
  })
})

describe('Next case', () => {
  it('never hands the same case to two analysts pressing it 50 times each at once', async () => {
    await owner().updateTable('cases').set({ status: 'closed', outcome: 'inconclusive' }).execute()
    const users = Array.from({ length: 80 }, (_, index) => `C-queue-${index}`)
    await seedScored(
      team.owner,
      users.map((userId, index) => ({ userId, decision: 'review', score: 41 + (index % 50) })),
    )
    const press = (who: SignedIn) => Array.from({ length: 50 }, () => nextCase(db(who), who.analyst))
    const handed = await Promise.all([...press(alice), ...press(bob)])
    const taken = handed.filter((entry) => entry !== null)
    const ids = taken.map((entry) => entry.id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids.length).toBe(users.length)
    expect(handed.filter((entry) => entry === null)).toHaveLength(100 - users.length)

    const assigned = await owner()
      .selectFrom('cases')
      .select(['id', 'assignee_id', 'status'])
      .where('user_id', 'in', users)
      .execute()
    const byId = new Map(assigned.map((row) => [row.id, row]))
    for (const entry of taken) {
      expect(byId.get(entry.id)).toMatchObject({ status: 'in_review', assignee_id: entry.assignee?.id })
      expect([alice.analyst.id, bob.analyst.id]).toContain(entry.assignee?.id)
    }
    const events = await owner()
      .selectFrom('case_events')
      .select(['case_id', 'actor'])
      .where('action', '=', 'assigned')
      .where('case_id', 'in', ids)
      .execute()
    expect(events).toHaveLength(ids.length)
  })

  it('hands out the highest score first', async () => {
    await owner()
      .updateTable('cases')
      .set({ status: 'closed', outcome: 'inconclusive' })
      .where('status', '<>', 'closed')
      .execute()
    await seedScored(team.owner, [
      { userId: 'C-low', decision: 'review', score: 45 },
      { userId: 'C-high', decision: 'block', score: 97 },
    ])
    expect((await nextCase(db(alice), alice.analyst))?.userId).toBe('C-high')
    expect((await nextCase(db(alice), alice.analyst))?.userId).toBe('C-low')
    expect(await nextCase(db(alice), alice.analyst)).toBeNull()
  })
})

describe('changing a case', () => {
  it('refuses a stale edit and says who changed the case and when', async () => {
    await seedScored(team.owner, [{ userId: 'C-stale', decision: 'review' }])
    const seen = await openCaseOf('C-stale')
    await transitionCase(db(alice), alice.analyst, {
      id: seen.id,
      version: seen.version,
      status: 'escalated',
    })
    const stale = transitionCase(db(bob), bob.analyst, {
      id: seen.id,
      version: seen.version,
      status: 'closed',
      outcome: 'false_positive',
    })
    await expect(stale).rejects.toBeInstanceOf(TriageConflictError)
    await expect(stale).rejects.toThrow(
      /^Alice changed this case at \d{2}:\d{2}; reload to see the change\.$/,
    )
    const after = await owner()
      .selectFrom('cases')
      .selectAll()
      .where('id', '=', seen.id)
      .executeTakeFirstOrThrow()
    expect(after).toMatchObject({ status: 'escalated', assignee_id: alice.analyst.id, outcome: null })
  })

  it('lets the database refuse an analyst who changes a colleague’s case, and lets a supervisor reassign it', async () => {
    await seedScored(team.owner, [{ userId: 'C-rls', decision: 'review' }])
    const fresh = await openCaseOf('C-rls')
    const mine = await assignCase(db(alice), alice.analyst, {
      id: fresh.id,
      version: fresh.version,
      assigneeId: alice.analyst.id,
    })
    const closing = transitionCase(db(bob), bob.analyst, {
      id: mine.id,
      version: mine.version,
      status: 'closed',
      outcome: 'false_positive',
    })
    await expect(closing).rejects.toBeInstanceOf(TriageForbiddenError)
    await expect(closing).rejects.toThrow(/assigned to Alice/)
    const raw =
      await sql`UPDATE cases SET status = 'closed', outcome = 'false_positive' WHERE id = ${mine.id}`.execute(
        bob.store.db,
      )
    expect(raw.numAffectedRows).toBe(0n)

    const reassigned = await assignCase(db(sue), sue.analyst, {
      id: mine.id,
      version: mine.version,
      assigneeId: bob.analyst.id,
      reason: 'Alice is off sick',
    })
    expect(reassigned.assignee?.displayName).toBe('Bob')
    const detail = await caseDetail(db(bob), mine.id)
    expect(detail.events.at(-1)).toMatchObject({
      action: 'assigned',
      actorName: 'Sue',
      note: 'Alice is off sick',
      after: { assignee: 'Bob' },
    })
  })

  it('takes the case over when an analyst closes it as fraud, lists what it involved and labels its alerts', async () => {
    // A user and a counterparty of its own, and a queue that holds its case only, whatever ran before.
    const userId = uniqueName('C-fraud')
    const mule = uniqueName('M-mule')
    await owner()
      .updateTable('cases')
      .set({ status: 'closed', outcome: 'inconclusive' })
      .where('status', '=', 'open')
      .where('assignee_id', 'is', null)
      .execute()
    const [first] = await seedScored(team.owner, [
      {
        userId,
        counterpartyId: mule,
        decision: 'block',
        sourceIp: '203.0.113.9',
        reasons: [reason('balance_drain', 'empties the account')],
      },
    ])
    const theCase = await nextCase(db(alice), alice.analyst)
    expect(theCase?.userId).toBe(userId)
    if (theCase === null) throw new Error('no case')
    await addNote(db(alice), theCase.id, 'Called the bank: card stolen')
    const closed = await transitionCase(db(alice), alice.analyst, {
      id: theCase.id,
      version: theCase.version,
      status: 'closed',
      outcome: 'fraud_confirmed',
      note: 'confirmed with the customer',
      blocklist: { user: true, counterparties: [mule], ips: ['203.0.113.9'] },
    })
    expect(closed).toMatchObject({ status: 'closed', outcome: 'fraud_confirmed' })

    const listed = await owner()
      .selectFrom('lists')
      .select(['kind', 'value', 'reason', 'created_by'])
      .execute()
    expect(listed).toEqual(
      expect.arrayContaining(
        [`user:${userId}`, `counterparty:${mule}`, 'ip:203.0.113.9'].map((entry) =>
          expect.objectContaining({
            kind: entry.split(':')[0],
            value: entry.slice(entry.indexOf(':') + 1),
            created_by: alice.analyst.login,
          }),
        ),
      ),
    )
    const label = await owner()
      .selectFrom('labels')
      .selectAll()
      .where('txn_id', '=', first ?? '')
      .executeTakeFirst()
    expect(label).toMatchObject({ outcome: 'fraud_confirmed', labelled_by: alice.analyst.login })

    const detail = await caseDetail(db(alice), theCase.id)
    expect(detail.events.map((event) => [event.action, event.actorName])).toEqual([
      ['opened', expect.any(String)],
      ['assigned', 'Alice'],
      ['note', 'Alice'],
      ['closed', 'Alice'],
      ['blocklisted', 'Alice'],
    ])
    expect(detail.events.find((event) => event.action === 'closed')).toMatchObject({
      before: { status: 'in_review' },
      after: { status: 'closed', outcome: 'fraud_confirmed' },
    })
    expect(detail.listed).toHaveLength(3)

    const precision = await rulePrecision(db(alice))
    expect(precision.find((rule) => rule.rule === 'balance_drain')).toMatchObject({
      confirmed: 1,
      precision: 1,
    })
  })

  it('refuses to list anything the case did not involve', async () => {
    await seedScored(team.owner, [{ userId: 'C-narrow', decision: 'review', counterpartyId: 'M-shop' }])
    const theCase = await openCaseOf('C-narrow')
    const closing = transitionCase(db(alice), alice.analyst, {
      id: theCase.id,
      version: theCase.version,
      status: 'closed',
      outcome: 'fraud_confirmed',
      blocklist: { counterparties: ['M-innocent'] },
    })
    await expect(closing).rejects.toThrow(/not: M-innocent/)
    expect((await openCaseOf('C-narrow')).status).toBe('open')
  })

  it('keeps bulk close for supervisors and reports each refusal', async () => {
    await seedScored(team.owner, [
      { userId: 'C-bulk-1', decision: 'review' },
      { userId: 'C-bulk-2', decision: 'review' },
    ])
    const cases = await Promise.all(['C-bulk-1', 'C-bulk-2'].map(openCaseOf))
    const refs = cases.map((row) => ({ id: row.id, version: row.version }))
    const action = { kind: 'close', outcome: 'false_positive' } as const
    await expect(bulkCases(db(alice), alice.analyst, { cases: refs, action })).rejects.toBeInstanceOf(
      TriageForbiddenError,
    )
    const stale = [{ ...refs[0], version: 999 }, refs[1]].map((ref) => ({
      id: ref?.id ?? 0,
      version: ref?.version ?? 0,
    }))
    const result = await bulkCases(db(sue), sue.analyst, { cases: stale, action })
    expect(result.updated.map((entry) => entry.id)).toEqual([refs[1]?.id])
    expect(result.refused).toEqual([{ id: refs[0]?.id, message: expect.stringMatching(/reload/) }])
  })

  it('keeps the audit trail append-only for analysts', async () => {
    await expect(sql`DELETE FROM case_events`.execute(alice.store.db)).rejects.toThrow(/permission denied/)
    await expect(sql`UPDATE case_events SET note = 'rewritten'`.execute(alice.store.db)).rejects.toThrow(
      /permission denied/,
    )
  })
})
