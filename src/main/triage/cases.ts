import { sql, type RawBuilder, type Selectable, type Transaction } from 'kysely'
import {
  BlocklistChoice,
  BulkCaseAction,
  CaseAssignment,
  CaseOutcome,
  CaseQueueRequest,
  CaseStatus,
  CaseTransition,
  type Analyst,
  type BulkResult,
  type CaseAlert,
  type CaseDetail,
  type CaseEvent,
  type CaseSummary,
  type ListKind,
  type RelatedCase,
} from '../../shared/triage-contract'
import { Reason, TransactionType } from '../../shared/transaction'
import { displayNames } from './analysts'
import type { CasesTable, Database, StoreDb } from '../store/schema'
import { iso, isoOrNull } from './db'
import {
  judged,
  TriageConflictError,
  TriageForbiddenError,
  TriageInvalidError,
  TriageNotFoundError,
} from './errors'
import { listEntriesById } from './lists'
import { startsWith, userHistory } from './transactions'

/**
 * Cases: the queue, "Next case", status changes, assignment, notes and bulk actions. Every change is an
 * UPDATE guarded by the version the analyst saw (a stale edit changes nothing and says who changed the
 * case meanwhile) and an append-only case event in the same transaction. Permissions are the database's:
 * row-level security decides whose cases an analyst may change.
 */

type CaseRow = Selectable<CasesTable>
type Trx = Transaction<Database>

const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })

async function summaries(db: StoreDb | Trx, rows: CaseRow[]): Promise<CaseSummary[]> {
  const assigneeIds = [...new Set(rows.flatMap((row) => (row.assignee_id === null ? [] : [row.assignee_id])))]
  const assignees =
    assigneeIds.length === 0
      ? []
      : await db
          .selectFrom('analysts')
          .select(['id', 'login', 'display_name'])
          .where('id', 'in', assigneeIds)
          .execute()
  const byId = new Map(
    assignees.map((a) => [a.id, { id: a.id, login: a.login, displayName: a.display_name }]),
  )
  const names = await displayNames(
    db,
    rows.map((row) => row.updated_by),
  )
  const now = Date.now()
  return rows.map((row) => ({
    id: row.id,
    userId: row.user_id,
    status: CaseStatus.parse(row.status),
    outcome: row.outcome === null ? null : CaseOutcome.parse(row.outcome),
    priority: Number(row.priority),
    maxScore: row.max_score,
    amountAtRisk: row.amount_at_risk,
    alertCount: row.alert_count,
    assignee: row.assignee_id === null ? null : (byId.get(row.assignee_id) ?? null),
    dueAt: isoOrNull(row.due_at),
    overdue: row.status !== 'closed' && row.due_at !== null && row.due_at.getTime() < now,
    version: row.version,
    openedAt: iso(row.opened_at),
    updatedAt: iso(row.updated_at),
    updatedBy: names.get(row.updated_by) ?? row.updated_by,
    closedAt: isoOrNull(row.closed_at),
    lastAlertAt: isoOrNull(row.last_alert_at),
  }))
}

async function summary(db: StoreDb | Trx, row: CaseRow): Promise<CaseSummary> {
  const [one] = await summaries(db, [row])
  if (one === undefined) throw new Error('summaries() lost a row')
  return one
}

export async function caseQueue(db: StoreDb, me: Analyst, input: CaseQueueRequest): Promise<CaseSummary[]> {
  const request = CaseQueueRequest.parse(input)
  let query = db.selectFrom('cases').selectAll()
  query = query.where('status', 'in', request.statuses ?? ['open', 'in_review', 'escalated'])
  if (request.assignee === 'me') query = query.where('assignee_id', '=', me.id)
  if (request.assignee === 'unassigned') query = query.where('assignee_id', 'is', null)
  if (request.overdueOnly)
    query = query.where('due_at', '<', sql<Date>`now()`).where('status', '<>', 'closed')
  if (request.userId !== undefined) query = query.where('user_id', 'like', startsWith(request.userId))
  if (request.minScore !== undefined) query = query.where('max_score', '>=', request.minScore)
  const rows = await query
    .orderBy(sql`status = 'closed'`)
    .orderBy('priority', 'desc')
    .orderBy('amount_at_risk', 'desc')
    .orderBy('opened_at')
    .orderBy('id')
    .limit(request.limit)
    .execute()
  return summaries(db, rows)
}

const recordEvent = (
  trx: Trx,
  caseId: number,
  action: string,
  details: { before?: object; after?: object; note?: string | undefined },
) =>
  trx
    .insertInto('case_events')
    .values({
      case_id: caseId,
      action,
      before: details.before === undefined ? null : JSON.stringify(details.before),
      after: details.after === undefined ? null : JSON.stringify(details.after),
      note: details.note ?? null,
    })
    .returning(['id', 'action', 'actor', 'at', 'before', 'after', 'note'])
    .executeTakeFirstOrThrow()

/**
 * Hands out the highest-priority unassigned open case. The inner SELECT … FOR UPDATE SKIP LOCKED lets
 * concurrent callers pass over a row another is taking, and the outer WHERE re-checks it is still
 * unassigned, so no case is ever handed to two analysts.
 */
export async function nextCase(db: StoreDb, me: Analyst): Promise<CaseSummary | null> {
  return judged('take a case from the queue', () =>
    db.transaction().execute(async (trx) => {
      const candidate = trx
        .selectFrom('cases')
        .select('id')
        .where('status', '=', 'open')
        .where('assignee_id', 'is', null)
        .orderBy('priority', 'desc')
        .orderBy('amount_at_risk', 'desc')
        .orderBy('opened_at')
        .orderBy('id')
        .limit(1)
        .forUpdate()
        .skipLocked()
      const taken = await trx
        .updateTable('cases')
        .set({ assignee_id: me.id, status: 'in_review', version: sql`version + 1`, updated_at: sql`now()` })
        .where('id', '=', candidate)
        .where('status', '=', 'open')
        .where('assignee_id', 'is', null)
        .returningAll()
        .executeTakeFirst()
      if (taken === undefined) return null
      await recordEvent(trx, taken.id, 'assigned', {
        before: { status: 'open', assignee: null },
        after: { status: 'in_review', assignee: me.login },
        note: 'Next case',
      })
      return summary(trx, taken)
    }),
  )
}

/**
 * Why an UPDATE guarded by id and version changed nothing: the case is gone or hidden, someone changed
 * it meanwhile (a stale edit), or the database's row-level security kept it from this analyst.
 */
async function refusal(trx: Trx, id: number, version: number): Promise<Error> {
  const { rows } = await sql<{
    version: number
    updated_by: string
    updated_at: Date
    assignee: string | null
    status: string
  }>`SELECT * FROM aether_case_stamp(${id})`.execute(trx)
  const current = rows[0]
  if (current === undefined) return new TriageNotFoundError(`Case ${id} does not exist.`)
  if (current.version !== version) {
    const names = await displayNames(trx, [current.updated_by])
    const who = names.get(current.updated_by) ?? current.updated_by
    return new TriageConflictError(
      `${who} changed this case at ${timeOfDay.format(new Date(current.updated_at))}; reload to see the change.`,
    )
  }
  return new TriageForbiddenError(
    current.assignee === null
      ? `You may not change case ${id}.`
      : `Case ${id} is assigned to ${current.assignee}: only they or a supervisor can change it.`,
  )
}

async function changeCase(
  trx: Trx,
  ref: { id: number; version: number },
  changes: Partial<Pick<CaseRow, 'status' | 'outcome' | 'assignee_id'>> & { closed_at?: RawBuilder<Date> },
): Promise<CaseRow> {
  const updated = await trx
    .updateTable('cases')
    .set({ ...changes, version: sql`version + 1`, updated_at: sql`now()` })
    .where('id', '=', ref.id)
    .where('version', '=', ref.version)
    .returningAll()
    .executeTakeFirst()
  if (updated === undefined) throw await refusal(trx, ref.id, ref.version)
  return updated
}

/** The case as the analyst last saw it; a newer version, or one now hidden from them, is refused at once. */
async function currentCase(trx: Trx, ref: { id: number; version?: number }): Promise<CaseRow> {
  const row = await trx.selectFrom('cases').selectAll().where('id', '=', ref.id).executeTakeFirst()
  if (row === undefined || (ref.version !== undefined && row.version !== ref.version))
    throw await refusal(trx, ref.id, ref.version ?? -1)
  return row
}

async function loginOf(trx: Trx, analystId: number | null): Promise<string | null> {
  if (analystId === null) return null
  const row = await trx
    .selectFrom('analysts')
    .select(['login', 'disabled_at'])
    .where('id', '=', analystId)
    .executeTakeFirst()
  if (row === undefined || row.disabled_at !== null)
    throw new TriageInvalidError(`Analyst ${analystId} does not exist or is disabled.`)
  return row.login
}

async function assignWithin(trx: Trx, me: Analyst, input: CaseAssignment): Promise<CaseRow> {
  const request = CaseAssignment.parse(input)
  const before = await currentCase(trx, request)
  if (before.status === 'closed') throw new TriageConflictError(`Case ${request.id} is closed.`)
  const [fromLogin, toLogin] = [
    await loginOf(trx, before.assignee_id),
    await loginOf(trx, request.assigneeId),
  ]
  const reassigning = before.assignee_id !== null && before.assignee_id !== me.id
  if (reassigning && (request.reason ?? '') === '')
    throw new TriageInvalidError('Say why when you take a case over from another analyst.')
  const status = request.assigneeId === null ? 'open' : before.status === 'open' ? 'in_review' : before.status
  const after = await changeCase(trx, request, { assignee_id: request.assigneeId, status })
  await recordEvent(trx, request.id, request.assigneeId === null ? 'unassigned' : 'assigned', {
    before: { assignee: fromLogin, status: before.status },
    after: { assignee: toLogin, status: after.status },
    note: request.reason,
  })
  return after
}

export async function assignCase(db: StoreDb, me: Analyst, input: CaseAssignment): Promise<CaseSummary> {
  return judged('assign this case', () =>
    db.transaction().execute(async (trx) => summary(trx, await assignWithin(trx, me, input))),
  )
}

/** The identities of a case's alerts that may go on a blocklist. */
async function caseIdentities(trx: Trx | StoreDb, caseId: number) {
  const rows = await trx
    .selectFrom('alerts as a')
    .innerJoin('transactions as t', 't.txn_id', 'a.txn_id')
    .select(['t.counterparty_id', sql<string | null>`host(t.source_ip)`.as('source_ip'), 't.device_id'])
    .where('a.case_id', '=', caseId)
    .execute()
  return {
    counterparties: new Set(rows.map((row) => row.counterparty_id)),
    ips: new Set(rows.flatMap((row) => (row.source_ip === null ? [] : [row.source_ip]))),
    devices: new Set(rows.flatMap((row) => (row.device_id === null ? [] : [row.device_id]))),
  }
}

async function blocklistFromCase(trx: Trx, me: Analyst, row: CaseRow, input: BlocklistChoice, note?: string) {
  const choice = BlocklistChoice.parse(input)
  const known = await caseIdentities(trx, row.id)
  const related = new Set((await relatedCases(trx, row.id)).map((other) => other.userId))
  const strangers = choice.relatedUsers.filter((user) => !related.has(user))
  if (strangers.length > 0)
    throw new TriageInvalidError(
      `Only the accounts of related cases can be blocked from this one; not: ${strangers.join(', ')}.`,
    )
  const wanted: { kind: ListKind; value: string }[] = [
    ...(choice.user ? [{ kind: 'user' as const, value: row.user_id }] : []),
    ...choice.relatedUsers.map((value) => ({ kind: 'user' as const, value })),
    ...choice.counterparties.map((value) => ({ kind: 'counterparty' as const, value })),
    ...choice.ips.map((value) => ({ kind: 'ip' as const, value })),
    ...choice.devices.map((value) => ({ kind: 'device' as const, value })),
  ]
  const foreign = wanted.filter(
    ({ kind, value }) =>
      (kind === 'counterparty' && !known.counterparties.has(value)) ||
      (kind === 'ip' && !known.ips.has(value)) ||
      (kind === 'device' && !known.devices.has(value)),
  )
  if (foreign.length > 0)
    throw new TriageInvalidError(
      `Only identities seen in this case's alerts can be listed from it; not: ${foreign.map((f) => f.value).join(', ')}.`,
    )
  if (wanted.length === 0) return []
  const expiresAt =
    choice.expiresInDays === undefined ? null : new Date(Date.now() + choice.expiresInDays * 86_400_000)
  const reason = `Case ${row.id} confirmed as fraud by ${me.displayName}${note ? `: ${note}` : ''}`
  // Through the database's own door for this: it lets the case's assignee list only what the case involved.
  const ids: number[] = []
  for (const entry of wanted) {
    const { rows } = await sql<{ id: number }>`
      SELECT aether_block_from_case(${row.id}, ${entry.kind}, ${entry.value}, ${reason}, ${expiresAt}) AS id`.execute(
      trx,
    )
    if (rows[0] !== undefined) ids.push(rows[0].id)
  }
  return listEntriesById(trx, ids)
}

export async function transitionCase(db: StoreDb, me: Analyst, input: CaseTransition): Promise<CaseSummary> {
  const request = CaseTransition.parse(input)
  return judged('change this case', () =>
    db.transaction().execute(async (trx) => {
      const before = await currentCase(trx, request)
      if (before.status === 'closed') throw new TriageConflictError(`Case ${request.id} is closed already.`)
      if (request.status === 'closed' && request.outcome === undefined)
        throw new TriageInvalidError(
          'Choose an outcome to close the case: fraud confirmed, false positive or inconclusive.',
        )
      if (request.status !== 'closed' && request.outcome !== undefined)
        throw new TriageInvalidError('An outcome is given only when closing a case.')
      if (request.blocklist !== undefined && request.outcome !== 'fraud_confirmed')
        throw new TriageInvalidError('Only a case closed as fraud confirmed can add entries to a blocklist.')
      if (before.status === request.status)
        throw new TriageConflictError(`Case ${request.id} is already ${request.status.replace('_', ' ')}.`)

      const takesOver = before.assignee_id === null
      const after = await changeCase(trx, request, {
        status: request.status,
        outcome: request.outcome ?? null,
        ...(takesOver ? { assignee_id: me.id } : {}),
        ...(request.status === 'closed' ? { closed_at: sql<Date>`now()` } : {}),
      })
      await recordEvent(trx, request.id, request.status === 'closed' ? 'closed' : request.status, {
        before: { status: before.status, ...(takesOver ? { assignee: null } : {}) },
        after: {
          status: after.status,
          ...(request.outcome === undefined ? {} : { outcome: request.outcome }),
          ...(takesOver ? { assignee: me.login } : {}),
        },
        note: request.note,
      })
      if (request.status === 'closed' && request.outcome !== undefined) {
        await labelCase(trx, request.id, request.outcome)
        if (request.blocklist !== undefined) {
          const listed = await blocklistFromCase(trx, me, after, request.blocklist, request.note)
          if (listed.length > 0)
            await recordEvent(trx, request.id, 'blocklisted', {
              after: { entries: listed.map((entry) => `${entry.kind}:${entry.value}`) },
            })
        }
      }
      return summary(trx, after)
    }),
  )
}

/** The case's outcome becomes the label of each of its alerted transactions. */
async function labelCase(trx: Trx, caseId: number, outcome: CaseOutcome) {
  await trx
    .insertInto('labels')
    .columns(['txn_id', 'case_id', 'outcome'])
    .expression((eb) =>
      eb
        .selectFrom('alerts')
        .select(['txn_id', 'case_id', sql.lit(outcome).as('outcome')])
        .where('case_id', '=', caseId),
    )
    .onConflict((conflict) =>
      conflict.column('txn_id').doUpdateSet({
        case_id: (eb) => eb.ref('excluded.case_id'),
        outcome: (eb) => eb.ref('excluded.outcome'),
      }),
    )
    .execute()
}

export async function addNote(db: StoreDb, caseId: number, text: string): Promise<CaseEvent> {
  return judged('add a note to this case', () =>
    db.transaction().execute(async (trx) => {
      await currentCase(trx, { id: caseId })
      const event = await recordEvent(trx, caseId, 'note', { note: text })
      const [one] = await toEvents(trx, [event])
      if (one === undefined) throw new Error('toEvents() lost a row')
      return one
    }),
  )
}

const asRecord = (value: unknown): Record<string, unknown> | null =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null

/** Audit rows with names: the actor's, and those of analysts an assignment moved the case between. */
async function toEvents(
  db: StoreDb | Trx,
  rows: {
    id: number
    action: string
    actor: string
    at: Date
    before: unknown
    after: unknown
    note: string | null
  }[],
): Promise<CaseEvent[]> {
  const assignees = rows.flatMap((row) =>
    [asRecord(row.before)?.assignee, asRecord(row.after)?.assignee].filter(
      (v): v is string => typeof v === 'string',
    ),
  )
  const names = await displayNames(db, [...rows.map((row) => row.actor), ...assignees])
  const named = (record: Record<string, unknown> | null) =>
    record !== null && typeof record.assignee === 'string'
      ? { ...record, assignee: names.get(record.assignee) ?? record.assignee }
      : record
  return rows.map((row) => ({
    id: row.id,
    action: row.action,
    actor: row.actor,
    actorName: names.get(row.actor) ?? row.actor,
    at: iso(row.at),
    before: named(asRecord(row.before)),
    after: named(asRecord(row.after)),
    note: row.note,
  }))
}

const TIMELINE_ROWS = 50

/** The cases on the other side of this one's money trail (0013's aether_related_cases), as this analyst sees them. */
async function relatedCases(db: StoreDb | Trx, caseId: number): Promise<RelatedCase[]> {
  const { rows } = await sql<{ id: number; user_id: string; status: string; amount: string; link: string }>`
    SELECT DISTINCT ON (c.id) c.id::int AS id, c.user_id, c.status, r.amount::text AS amount, r.link
      FROM aether_related_cases(${caseId}) r JOIN cases c ON c.id = r.case_id
     ORDER BY c.id`.execute(db)
  return rows.map((row) => ({
    id: row.id,
    userId: row.user_id,
    status: CaseStatus.parse(row.status),
    amount: row.amount,
    link: row.link,
  }))
}

export async function caseDetail(db: StoreDb, caseId: number): Promise<CaseDetail> {
  const row = await db.selectFrom('cases').selectAll().where('id', '=', caseId).executeTakeFirst()
  if (row === undefined)
    throw new TriageNotFoundError(`Case ${caseId} does not exist or is not visible to you.`)
  const [theCase, alertRows, events, timeline, related] = await Promise.all([
    summary(db, row),
    db
      .selectFrom('alerts as a')
      .innerJoin('transactions as t', 't.txn_id', 'a.txn_id')
      .select([
        'a.id',
        'a.txn_id',
        't.ts',
        'a.score',
        'a.decision',
        'a.reasons',
        't.amount',
        't.currency',
        't.type',
        't.counterparty_id',
        sql<string | null>`host(t.source_ip)`.as('source_ip'),
        't.device_id',
      ])
      .where('a.case_id', '=', caseId)
      .orderBy('t.ts', 'desc')
      .orderBy('a.id', 'desc')
      .execute(),
    db
      .selectFrom('case_events')
      .select(['id', 'action', 'actor', 'at', 'before', 'after', 'note'])
      .where('case_id', '=', caseId)
      .orderBy('id')
      .execute(),
    userHistory(db, row.user_id, null, TIMELINE_ROWS),
    relatedCases(db, caseId),
  ])
  const alerts: CaseAlert[] = alertRows.map((alert) => ({
    id: alert.id,
    txnId: alert.txn_id,
    ts: iso(alert.ts),
    score: alert.score,
    decision: alert.decision === 'block' ? 'block' : 'review',
    reasons: Reason.array().catch([]).parse(alert.reasons),
    amount: alert.amount,
    currency: alert.currency.trim(),
    type: TransactionType.parse(alert.type),
    counterpartyId: alert.counterparty_id,
    sourceIp: alert.source_ip,
    deviceId: alert.device_id,
  }))
  const candidates = [
    { kind: 'user', value: row.user_id },
    ...alerts.map((alert) => ({ kind: 'counterparty', value: alert.counterpartyId })),
    ...alerts.flatMap((alert) => (alert.sourceIp === null ? [] : [{ kind: 'ip', value: alert.sourceIp }])),
    ...alerts.flatMap((alert) =>
      alert.deviceId === null ? [] : [{ kind: 'device', value: alert.deviceId }],
    ),
  ]
  const listed = await db
    .selectFrom('lists')
    .select(['kind', 'value'])
    .where('value', 'in', [...new Set(candidates.map((candidate) => candidate.value))])
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .execute()
  return {
    case: theCase,
    alerts,
    timeline,
    events: await toEvents(db, events),
    related,
    listed: listed.flatMap((entry) =>
      candidates.some((c) => c.kind === entry.kind && c.value === entry.value)
        ? [{ kind: entry.kind as ListKind, value: entry.value }]
        : [],
    ),
  }
}

/**
 * Applies one action to many cases, each in its own transaction, so one refusal (a stale version, another
 * analyst's case) is reported without undoing the others.
 */
export async function bulkCases(db: StoreDb, me: Analyst, input: BulkCaseAction): Promise<BulkResult> {
  const request = BulkCaseAction.parse(input)
  if (request.action.kind === 'close' && me.role === 'analyst' && request.cases.length > 1)
    throw new TriageForbiddenError('Closing several cases at once is for supervisors.')
  const result: BulkResult = { updated: [], refused: [] }
  for (const ref of request.cases) {
    try {
      const action = request.action
      const updated =
        action.kind === 'assign'
          ? await assignCase(db, me, { ...ref, assigneeId: action.assigneeId, reason: action.reason })
          : await transitionCase(db, me, {
              ...ref,
              status: action.kind === 'close' ? 'closed' : 'escalated',
              ...(action.kind === 'close' ? { outcome: action.outcome } : {}),
              note: action.note,
            })
      result.updated.push(updated)
    } catch (error) {
      if (
        error instanceof TriageConflictError ||
        error instanceof TriageForbiddenError ||
        error instanceof TriageInvalidError ||
        error instanceof TriageNotFoundError
      )
        result.refused.push({ id: ref.id, message: error.message })
      else throw error
    }
  }
  return result
}
