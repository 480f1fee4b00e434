import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_RULES } from '../../src/shared/rules'
import { caseDetail, caseQueue, nextCase, transitionCase } from '../../src/main/triage/cases'
import { TriageConflictError, TriageInvalidError } from '../../src/main/triage/errors'
import { rulePublisher } from '../../src/main/triage/router'
import { saveRules } from '../../src/main/triage/rules'
import { transactionPage, transactionPageQuery } from '../../src/main/triage/transactions'
import { openTeamDatabase, reason, seedScored, type SignedIn, type TeamDatabase } from '../support/triage'

/**
 * Migration 0013 and what it serves, as analysts meet it on a real team database: prefix search on user
 * and counterparty, the cases on the two sides of one money trail, and publishing a backtested rule set
 * only over the version it was copied from.
 */

let team: TeamDatabase
let ana: SignedIn

beforeAll(async () => {
  team = await openTeamDatabase()
  ana = await team.signIn('analyst', 'Ana')
})

afterAll(async () => {
  await team?.dispose()
})

const page = (filter: { userId?: string; counterpartyId?: string; decisions?: ('review' | 'block')[] }) =>
  transactionPage(ana.store.db, {
    filter,
    sort: { column: 'ts', direction: 'desc' },
    offset: 0,
    limit: 100,
  })

describe('prefix search', () => {
  beforeAll(async () => {
    await seedScored(team.owner, [
      { userId: 'C3000000017', counterpartyId: 'M7700000001', decision: 'review' },
      { userId: 'C3000000099', counterpartyId: 'M7700000002', decision: 'approve' },
      { userId: 'C4000000001', counterpartyId: 'M8800000001', decision: 'review' },
      { userId: 'C_1', counterpartyId: 'M%1', decision: 'review' },
      { userId: 'CX1', counterpartyId: 'MX1', decision: 'review' },
    ])
  })

  it('finds every transaction whose user or counterparty starts with what was typed, from all rows or the alerts', async () => {
    expect((await page({ userId: 'C3000000' })).rows.map((row) => row.userId).sort()).toEqual([
      'C3000000017',
      'C3000000099',
    ])
    expect((await page({ userId: 'C3000000', decisions: ['review'] })).rows.map((row) => row.userId)).toEqual(
      ['C3000000017'],
    )
    expect((await page({ counterpartyId: 'M77' })).rows).toHaveLength(2)
    expect((await page({ userId: 'C3000000017' })).rows).toHaveLength(1)
  })

  it('takes % and _ literally', async () => {
    expect((await page({ userId: 'C_' })).rows.map((row) => row.userId)).toEqual(['C_1'])
    expect((await page({ counterpartyId: 'M%' })).rows.map((row) => row.counterpartyId)).toEqual(['M%1'])
  })

  it('finds cases by the beginning of their user', async () => {
    const me = ana.analyst
    const found = await caseQueue(ana.store.db, me, { userId: 'C300', statuses: ['open'] })
    expect(found.map((c) => c.userId)).toEqual(['C3000000017'])
    expect(await caseQueue(ana.store.db, me, { userId: 'C_', statuses: ['open'] })).toHaveLength(1)
  })

  it('answers a prefix from the user index, not by reading every row', async () => {
    const query = transactionPageQuery(ana.store.db, {
      filter: { userId: 'C3000000' },
      sort: { column: 'ts', direction: 'desc' },
      limit: 100,
      alertsFromScore: 101,
    }).compile()
    const { rows } = await team.owner.db.connection().execute(async (connection) => {
      await sql`SET enable_seqscan = off`.execute(connection)
      const plan = await connection.executeQuery<{ 'QUERY PLAN': string }>({
        ...query,
        sql: `EXPLAIN ${query.sql}`,
      })
      await sql`RESET enable_seqscan`.execute(connection)
      return plan
    })
    // With sequential scans priced out, the plan must still find an index that answers LIKE 'prefix%' as
    // a range (PostgreSQL's pattern operators), whatever the database's collation.
    expect(rows.map((row) => row['QUERY PLAN']).join('\n')).toMatch(/Index Cond: .*user_id ~>=~ 'C3000000'/)
  })
})

describe('cases on one money trail', () => {
  const amount = '1004266.22'
  const caseOf = async (userId: string) =>
    (
      await team.owner.db
        .selectFrom('cases')
        .select('id')
        .where('user_id', '=', userId)
        .where('status', '<>', 'closed')
        .executeTakeFirstOrThrow()
    ).id

  beforeAll(async () => {
    await sql`UPDATE cases SET status = 'closed', outcome = 'inconclusive' WHERE status <> 'closed'`.execute(
      team.owner.db,
    )
    const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000)
    await seedScored(team.owner, [
      {
        userId: 'C-victim',
        counterpartyId: 'C-mule',
        type: 'TRANSFER',
        amount,
        decision: 'block',
        ts: at(9),
      },
      {
        userId: 'C-mule',
        counterpartyId: 'C-agent',
        type: 'CASH_OUT',
        amount,
        decision: 'review',
        ts: at(4),
      },
      // The same mule cashing out another amount, and a cash-out before the transfer: no trail.
      {
        userId: 'C-mule2',
        counterpartyId: 'C-agent',
        type: 'CASH_OUT',
        amount,
        decision: 'review',
        ts: at(20),
      },
      {
        userId: 'C-victim2',
        counterpartyId: 'C-mule2',
        type: 'TRANSFER',
        amount,
        decision: 'review',
        ts: at(10),
      },
      { userId: 'C-bystander', type: 'TRANSFER', amount, decision: 'review', reasons: [reason('r', 'x')] },
    ])
  })

  it('links the transfer’s case and the cash-out’s case both ways, and nothing else', async () => {
    const [victim, mule] = [await caseOf('C-victim'), await caseOf('C-mule')]
    const fromVictim = await caseDetail(ana.store.db, victim)
    expect(fromVictim.related).toEqual([
      expect.objectContaining({ id: mule, userId: 'C-mule', amount, status: 'open' }),
    ])
    expect((await caseDetail(ana.store.db, mule)).related).toEqual([
      expect.objectContaining({ id: victim, userId: 'C-victim', amount }),
    ])
    expect((await caseDetail(ana.store.db, await caseOf('C-victim2'))).related).toEqual([])
    expect((await caseDetail(ana.store.db, await caseOf('C-bystander'))).related).toEqual([])
  })

  it('lets the case’s analyst block the other side when closing as fraud, and no stranger', async () => {
    const victim = await caseOf('C-victim')
    const taken = await nextCase(ana.store.db, ana.analyst)
    expect(taken?.userId).toBe('C-victim')
    const version = taken?.version ?? 0
    await expect(
      transitionCase(ana.store.db, ana.analyst, {
        id: victim,
        version,
        status: 'closed',
        outcome: 'fraud_confirmed',
        blocklist: { relatedUsers: ['C-bystander'] },
      }),
    ).rejects.toThrow(TriageInvalidError)
    await transitionCase(ana.store.db, ana.analyst, {
      id: victim,
      version,
      status: 'closed',
      outcome: 'fraud_confirmed',
      blocklist: { user: false, relatedUsers: ['C-mule'] },
    })
    const listed = await team.owner.db.selectFrom('lists').select(['kind', 'value']).execute()
    expect(listed).toContainEqual({ kind: 'user', value: 'C-mule' })
    expect(listed).not.toContainEqual({ kind: 'user', value: 'C-victim' })
  })
})

describe('publishing a backtested rule set', () => {
  it('refuses a copy of a version that is no longer in force, saying which', async () => {
    // Saving rules is for admins.
    const sue = await team.signIn('admin', 'Sue')
    const scope = {
      requireStore: () => sue.store,
      storeMode: () => 'team' as const,
      onStoreSwitch: () => () => {},
    }
    const publish = rulePublisher(scope)
    await saveRules(team.owner.db, {
      baseVersion: null,
      definition: { ...DEFAULT_RULES, thresholds: { review: 45, block: 80 } },
      comment: 'version 2',
    })
    const copiedFromTwo = { ...DEFAULT_RULES, version: 3, thresholds: { review: 45, block: 75 } }
    await saveRules(team.owner.db, {
      baseVersion: 2,
      definition: { ...DEFAULT_RULES, thresholds: { review: 50, block: 80 } },
      comment: 'version 3, saved meanwhile',
    })
    const refusal = publish(copiedFromTwo, 'B', 2)
    await expect(refusal).rejects.toThrow(TriageConflictError)
    await expect(refusal).rejects.toThrow(/version 3 was saved after B was copied from version 2/)
    expect(await publish({ ...copiedFromTwo, thresholds: { review: 50, block: 75 } }, 'B on 3', 3)).toEqual({
      version: 4,
    })
  })
})
