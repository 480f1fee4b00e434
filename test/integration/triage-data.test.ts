import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_RULES, type RuleSet } from '../../src/shared/rules'
import type { TransactionFilter, TransactionRow, TransactionSort } from '../../src/shared/triage-contract'
import { dashboard } from '../../src/main/triage/dashboard'
import { TriageConflictError, TriageForbiddenError, TriageInvalidError } from '../../src/main/triage/errors'
import { addListEntry, listEntries, removeListEntry, updateListEntry } from '../../src/main/triage/lists'
import { revertRules, ruleVersions, saveRules } from '../../src/main/triage/rules'
import { exportCsv, transactionDetail, transactionPage } from '../../src/main/triage/transactions'
import { openTeamDatabase, reason, seedScored, type SignedIn, type TeamDatabase } from '../support/triage'

let team: TeamDatabase
let analyst: SignedIn
let admin: SignedIn

const TYPES = ['PAYMENT', 'TRANSFER', 'CASH_OUT'] as const
const DECISIONS = ['approve', 'approve', 'review', 'approve', 'block'] as const
const ROWS = 230
const start = Date.UTC(2026, 0, 5, 9, 0, 0)

beforeAll(async () => {
  team = await openTeamDatabase()
  analyst = await team.signIn('analyst', 'Ana')
  admin = await team.signIn('admin', 'Adam')
  // Several rows share a timestamp and an amount, so paging must break ties by txn_id to lose nothing.
  await seedScored(
    team.owner,
    Array.from({ length: ROWS }, (_, i) => ({
      userId: `C${i % 7}`,
      counterpartyId: `M${i % 11}`,
      type: TYPES[i % TYPES.length],
      amount: `${100 + (i % 13) * 250}.${String(i % 100).padStart(2, '0')}`,
      ts: new Date(start + Math.floor(i / 3) * 20_000),
      decision: DECISIONS[i % DECISIONS.length],
      score: DECISIONS[i % DECISIONS.length] === 'approve' ? i % 40 : 40 + (i % 60),
      reasons:
        DECISIONS[i % DECISIONS.length] === 'approve' ? [] : [reason('velocity_1h', `${i} transfers in 1 h`)],
      label: i % 29 === 0,
    })),
  )
})

afterAll(async () => {
  await team?.dispose()
})

const db = () => analyst.store.db

/** Walks every page the way the grid scrolls: each page starts where the previous one ended. */
async function allPages(filter: TransactionFilter, sort: TransactionSort, limit = 17) {
  const rows: TransactionRow[] = []
  let after
  for (;;) {
    const page = await transactionPage(db(), { filter, sort, offset: 0, limit, after })
    rows.push(...page.rows)
    if (page.next === null) return rows
    after = page.next
  }
}

const inOrder = (rows: TransactionRow[], key: (row: TransactionRow) => number, direction: 'asc' | 'desc') =>
  rows.every((row, i) => {
    const previous = rows[i - 1]
    if (previous === undefined) return true
    return direction === 'asc' ? key(previous) <= key(row) : key(previous) >= key(row)
  })

describe('the Transactions grid', () => {
  it.each([
    ['ts', 'desc', (row: TransactionRow) => Date.parse(row.ts)],
    ['ts', 'asc', (row: TransactionRow) => Date.parse(row.ts)],
    ['amount', 'desc', (row: TransactionRow) => Number(row.amount)],
    ['score', 'desc', (row: TransactionRow) => row.score ?? -1],
    ['score', 'asc', (row: TransactionRow) => row.score ?? -1],
  ] as const)('pages through every row sorted by %s %s, none twice', async (column, direction, key) => {
    const rows = await allPages({}, { column, direction })
    expect(rows).toHaveLength(ROWS)
    expect(new Set(rows.map((row) => row.txnId)).size).toBe(ROWS)
    expect(inOrder(rows, key, direction)).toBe(true)
  })

  it('finds the same rows by offset as by cursor', async () => {
    const sort = { column: 'amount', direction: 'desc' } as const
    const walked = await allPages({}, sort, 25)
    const jumped = await transactionPage(db(), { filter: {}, sort, offset: 100, limit: 25 })
    expect(jumped.rows.map((row) => row.txnId)).toEqual(walked.slice(100, 125).map((row) => row.txnId))
  })

  it('applies every quick filter on the server', async () => {
    const from = new Date(start + 10 * 60_000).toISOString()
    const to = new Date(start + 20 * 60_000).toISOString()
    const filter: TransactionFilter = {
      decisions: ['review', 'block'],
      scoreMin: 50,
      types: ['TRANSFER', 'CASH_OUT'],
      from,
      to,
    }
    const rows = await allPages(filter, { column: 'ts', direction: 'desc' }, 5)
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows) {
      expect(['review', 'block']).toContain(row.decision)
      expect(row.score).toBeGreaterThanOrEqual(50)
      expect(['TRANSFER', 'CASH_OUT']).toContain(row.type)
      expect(row.ts >= from && row.ts < to).toBe(true)
      expect(row.caseId).not.toBeNull()
    }
    const approved = await allPages(
      { decisions: ['approve'], userId: 'C3' },
      { column: 'ts', direction: 'desc' },
    )
    expect(approved.length).toBeGreaterThan(0)
    expect(approved.every((row) => row.decision === 'approve' && row.userId === 'C3')).toBe(true)
    const counterparty = await allPages({ counterpartyId: 'M4' }, { column: 'amount', direction: 'asc' })
    expect(counterparty.length).toBe(
      Array.from({ length: ROWS }, (_, i) => i % 11).filter((m) => m === 4).length,
    )
  })

  it('finds every row of a high score range, through the alerts or not', async () => {
    const sort = { column: 'ts', direction: 'desc' } as const
    const everything = await allPages({}, sort, 100)
    for (const scoreMin of [10, 40, 65]) {
      const expected = everything.filter((row) => (row.score ?? -1) >= scoreMin).map((row) => row.txnId)
      const found = await allPages({ scoreMin }, sort, 13)
      expect(found.map((row) => row.txnId)).toEqual(expected)
    }
  })

  it('explains a transaction with its reasons and the user’s history', async () => {
    const [flagged] = await allPages(
      { decisions: ['block'], userId: 'C4' },
      { column: 'ts', direction: 'desc' },
    )
    if (flagged === undefined) throw new Error('no block for C4')
    const detail = await transactionDetail(db(), flagged.txnId)
    expect(detail.transaction.reasons[0]).toMatchObject({
      rule: 'velocity_1h',
      text: expect.stringMatching(/transfers in 1 h/),
    })
    expect(detail.history.length).toBeGreaterThan(1)
    expect(detail.history.every((row) => row.userId === 'C4' && row.ts <= flagged.ts)).toBe(true)
  })

  it('exports exactly the filtered rows as CSV, in pages', async () => {
    const filter: TransactionFilter = { types: ['PAYMENT'] }
    let csv = ''
    let chunks = 0
    for await (const chunk of exportCsv(db(), {
      filter,
      sort: { column: 'ts', direction: 'desc' },
      maxRows: 1000,
    })) {
      csv += chunk.csv
      chunks += 1
    }
    const lines = csv.trimEnd().split('\r\n')
    const expected = await allPages(filter, { column: 'ts', direction: 'desc' })
    expect(lines[0]).toMatch(/^txn_id,ts,user_id/)
    expect(lines.slice(1).map((line) => line.split(',')[0])).toEqual(expected.map((row) => row.txnId))
    expect(chunks).toBeGreaterThan(1)
  })
})

describe('lists', () => {
  it('lets an admin add, renew and remove entries, and refuses an analyst', async () => {
    const entry = await addListEntry(admin.store.db, {
      kind: 'ip',
      value: '198.51.100.0/24',
      reason: 'botnet range',
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    })
    expect(entry).toMatchObject({ kind: 'ip', createdBy: admin.analyst.login, expired: false })
    await expect(
      addListEntry(admin.store.db, { kind: 'ip', value: '198.51.100.0/24', reason: 'again' }),
    ).rejects.toBeInstanceOf(TriageConflictError)
    await expect(
      addListEntry(admin.store.db, { kind: 'ip', value: 'not-an-ip', reason: 'typo' }),
    ).rejects.toBeInstanceOf(TriageInvalidError)
    await expect(
      addListEntry(db(), { kind: 'user', value: 'C1', reason: 'suspicious' }),
    ).rejects.toBeInstanceOf(TriageForbiddenError)

    const expired = await updateListEntry(admin.store.db, {
      id: entry.id,
      reason: 'botnet range, cleaned',
      expiresAt: new Date(Date.now() - 1000).toISOString(),
    })
    expect(expired).toMatchObject({ reason: 'botnet range, cleaned', expired: true })
    expect((await listEntries(db(), { search: 'botnet' })).map((e) => e.id)).toEqual([entry.id])
    await removeListEntry(admin.store.db, entry.id)
    expect(await listEntries(db(), { kind: 'ip' })).toEqual([])
  })
})

describe('rule versions', () => {
  const raised = (base: RuleSet, review: number): RuleSet => ({
    ...base,
    thresholds: { ...base.thresholds, review },
  })

  it('saves each change as a new version with its author and diff, and reverts by saving the old one again', async () => {
    const adminDb = admin.store.db
    expect((await ruleVersions(adminDb)).map((v) => v.version)).toEqual([DEFAULT_RULES.version])
    const saved = await saveRules(adminDb, {
      baseVersion: null,
      definition: raised(DEFAULT_RULES, 45),
      comment: 'fewer reviews',
    })
    expect(saved).toMatchObject({
      version: 2,
      author: admin.analyst.login,
      changes: ['review threshold 40 → 45'],
    })

    await expect(
      saveRules(adminDb, { baseVersion: 1, definition: raised(DEFAULT_RULES, 50), comment: 'stale' }),
    ).rejects.toBeInstanceOf(TriageConflictError)
    await expect(
      saveRules(db(), {
        baseVersion: 2,
        definition: raised(DEFAULT_RULES, 50),
        comment: 'not mine to change',
      }),
    ).rejects.toBeInstanceOf(TriageForbiddenError)
    await expect(
      saveRules(adminDb, {
        baseVersion: 2,
        definition: raised(DEFAULT_RULES, 95),
        comment: 'review above block',
      }),
    ).rejects.toThrow(/review threshold cannot be above the block threshold/)

    const reverted = await revertRules(adminDb, { version: 1, baseVersion: 2 })
    expect(reverted).toMatchObject({
      version: 3,
      comment: 'Revert to version 1',
      changes: ['review threshold 45 → 40'],
    })
    const history = await ruleVersions(db())
    expect(history.map((v) => v.version)).toEqual([3, 2, 1])
    expect(history[0]?.definition).toEqual({ ...DEFAULT_RULES, version: 3 })
  })
})

describe('the dashboard', () => {
  it('counts per bucket up to the newest event, with decisions, fraud, amounts and top rules', async () => {
    const view = await dashboard(db(), '1h')
    expect(view.asOf).not.toBeNull()
    const total = view.throughput.reduce((sum, bucket) => sum + bucket.count, 0)
    expect(total).toBe(ROWS)
    const mix = view.decisions.reduce((sum, bucket) => sum + bucket.approve + bucket.review + bucket.block, 0)
    expect(mix).toBe(ROWS)
    expect(view.amounts.map((row) => row.type).sort()).toEqual([...TYPES].sort())
    for (const row of view.amounts) expect(row.p05 <= row.p50 && row.p50 <= row.p95).toBe(true)
    expect(view.topRules[0]).toMatchObject({ rule: 'velocity_1h' })
    expect(view.decisions.some((bucket) => (bucket.fraudRate ?? 0) > 0)).toBe(true)
    expect(view.forecast.points.length + (view.forecast.note === null ? 0 : 1)).toBeGreaterThan(0)
  })
})
