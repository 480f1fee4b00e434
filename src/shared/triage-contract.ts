import { eventIterator } from '@orpc/contract'
import { z } from 'zod'
import { base } from './errors'
import { RuleSet } from './rules'
import { Decision, Reason, Transaction, TransactionType } from './transaction'

/**
 * Triage: the Transactions grid, live alerts, cases, lists, rule versions and the dashboard. Served under
 * `triage` in the app contract. Every column an analyst may sort or filter on is an enum here, so no name
 * from the wire ever reaches SQL.
 */

const instant = z.iso.datetime({ offset: true })
const id = z.number().int().positive()
const shortText = z.string().trim().max(500)

// ---------------------------------------------------------------------------------------------------------
// Analysts

export const AnalystRole = z.enum(['analyst', 'supervisor', 'admin'])
export type AnalystRole = z.infer<typeof AnalystRole>

export const Analyst = z.object({
  id,
  login: z.string(),
  displayName: z.string(),
  role: AnalystRole,
})
export type Analyst = z.infer<typeof Analyst>

// ---------------------------------------------------------------------------------------------------------
// Transactions

export const TRANSACTION_SORT_COLUMNS = ['ts', 'amount', 'score'] as const
export const TransactionSortColumn = z.enum(TRANSACTION_SORT_COLUMNS)
export type TransactionSortColumn = z.infer<typeof TransactionSortColumn>

export const TransactionSort = z.object({
  column: TransactionSortColumn,
  direction: z.enum(['asc', 'desc']),
})
export type TransactionSort = z.infer<typeof TransactionSort>

const accountId = z.string().trim().min(1).max(128)

export const TransactionFilter = z
  .object({
    decisions: z.array(Decision).min(1).max(3).optional(),
    scoreMin: z.number().int().min(0).max(100).optional(),
    scoreMax: z.number().int().min(0).max(100).optional(),
    types: z.array(TransactionType).min(1).max(5).optional(),
    from: instant.optional(),
    to: instant.optional(),
    userId: accountId.optional(),
    counterpartyId: accountId.optional(),
  })
  .refine((f) => f.scoreMin === undefined || f.scoreMax === undefined || f.scoreMin <= f.scoreMax, {
    message: 'the lowest score must not be above the highest',
    path: ['scoreMin'],
  })
export type TransactionFilter = z.infer<typeof TransactionFilter>

/** Where the previous page ended, so the next one starts from an index instead of counting an offset. */
export const TransactionCursor = z.object({
  value: z.union([z.string().max(64), z.number()]),
  txnId: z.uuid(),
})
export type TransactionCursor = z.infer<typeof TransactionCursor>

export const TransactionRow = z.object({
  txnId: z.string(),
  ts: z.string(),
  userId: z.string(),
  counterpartyId: z.string(),
  type: TransactionType,
  amount: z.string(),
  currency: z.string(),
  merchantType: z.string().nullable(),
  sourceIp: z.string().nullable(),
  deviceId: z.string().nullable(),
  score: z.number().nullable(),
  decision: Decision.nullable(),
  reasons: z.array(Reason),
  caseId: z.number().nullable(),
  /**
   * The Decision API key that sent it; null for a transaction that came another way (written to the
   * stream by a producer or `aether replay`, typed in, or Local mode's sample). `name` is null only for a
   * key this database does not know.
   */
  sentBy: z.object({ keyId: z.string(), name: z.string().nullable(), revoked: z.boolean() }).nullable(),
})
export type TransactionRow = z.infer<typeof TransactionRow>

export const TransactionPageRequest = z.object({
  filter: TransactionFilter,
  sort: TransactionSort,
  /** Rows to skip; ignored when `after` is given. */
  offset: z.number().int().min(0).max(50_000_000),
  limit: z.number().int().min(1).max(500),
  after: TransactionCursor.optional(),
})
export type TransactionPageRequest = z.infer<typeof TransactionPageRequest>

export const TransactionPage = z.object({
  rows: z.array(TransactionRow),
  /** Where this page ended: pass it as `after` for the next page. */
  next: TransactionCursor.nullable(),
})
export type TransactionPage = z.infer<typeof TransactionPage>

export const TransactionDetail = z.object({
  transaction: TransactionRow.extend({
    balanceBefore: z.string().nullable(),
    balanceAfter: z.string().nullable(),
    cpBalanceBefore: z.string().nullable(),
    cpBalanceAfter: z.string().nullable(),
    label: z.boolean().nullable(),
    modelVersion: z.string().nullable(),
    rulesVersion: z.number().nullable(),
  }),
  /** The user's transactions before and around this one, newest first. */
  history: z.array(TransactionRow),
})
export type TransactionDetail = z.infer<typeof TransactionDetail>

export const CsvExportRequest = z.object({
  filter: TransactionFilter,
  sort: TransactionSort,
  maxRows: z.number().int().min(1).max(1_000_000),
})
export type CsvExportRequest = z.infer<typeof CsvExportRequest>

export const CsvChunk = z.object({ csv: z.string(), rows: z.number().int(), done: z.boolean() })
export type CsvChunk = z.infer<typeof CsvChunk>

// ---------------------------------------------------------------------------------------------------------
// Live events

export const LiveAlert = z.object({
  kind: z.literal('alert'),
  id,
  txnId: z.string(),
  caseId: z.number().nullable(),
  userId: z.string(),
  amount: z.string(),
  ts: z.string(),
  score: z.number(),
  decision: z.enum(['review', 'block']),
  reasons: z.array(Reason),
})
export type LiveAlert = z.infer<typeof LiveAlert>

export const LiveEvent = z.discriminatedUnion('kind', [
  /** First event of every subscription: from here on, nothing committed is missed. */
  z.object({ kind: z.literal('listening') }),
  LiveAlert,
  z.object({ kind: z.literal('case'), caseId: id }),
])
export type LiveEvent = z.infer<typeof LiveEvent>

// ---------------------------------------------------------------------------------------------------------
// Cases

export const CASE_STATUSES = ['open', 'in_review', 'escalated', 'closed'] as const
export const CaseStatus = z.enum(CASE_STATUSES)
export type CaseStatus = z.infer<typeof CaseStatus>

export const CASE_OUTCOMES = ['fraud_confirmed', 'false_positive', 'inconclusive'] as const
export const CaseOutcome = z.enum(CASE_OUTCOMES)
export type CaseOutcome = z.infer<typeof CaseOutcome>

export const AnalystRef = Analyst.pick({ id: true, login: true, displayName: true })
export type AnalystRef = z.infer<typeof AnalystRef>

export const CaseSummary = z.object({
  id,
  userId: z.string(),
  status: CaseStatus,
  outcome: CaseOutcome.nullable(),
  priority: z.number(),
  maxScore: z.number(),
  amountAtRisk: z.string(),
  alertCount: z.number(),
  assignee: AnalystRef.nullable(),
  dueAt: z.string().nullable(),
  overdue: z.boolean(),
  version: z.number().int(),
  openedAt: z.string(),
  updatedAt: z.string(),
  /** Display name of whoever changed the case last. */
  updatedBy: z.string(),
  closedAt: z.string().nullable(),
  lastAlertAt: z.string().nullable(),
})
export type CaseSummary = z.infer<typeof CaseSummary>

export const CaseQueueRequest = z.object({
  statuses: z.array(CaseStatus).min(1).max(4).optional(),
  assignee: z.enum(['anyone', 'me', 'unassigned']).default('anyone'),
  overdueOnly: z.boolean().default(false),
  userId: accountId.optional(),
  minScore: z.number().int().min(0).max(100).optional(),
  limit: z.number().int().min(1).max(500).default(200),
})
export type CaseQueueRequest = z.input<typeof CaseQueueRequest>

export const CaseEvent = z.object({
  id,
  action: z.string(),
  /** The database login that did it, and the analyst's display name where known. */
  actor: z.string(),
  actorName: z.string(),
  at: z.string(),
  before: z.record(z.string(), z.unknown()).nullable(),
  after: z.record(z.string(), z.unknown()).nullable(),
  note: z.string().nullable(),
})
export type CaseEvent = z.infer<typeof CaseEvent>

export const CaseAlert = z.object({
  id,
  txnId: z.string(),
  ts: z.string(),
  score: z.number(),
  decision: z.enum(['review', 'block']),
  reasons: z.array(Reason),
  amount: z.string(),
  currency: z.string(),
  type: TransactionType,
  counterpartyId: z.string(),
  sourceIp: z.string().nullable(),
  deviceId: z.string().nullable(),
})
export type CaseAlert = z.infer<typeof CaseAlert>

export const ListKind = z.enum(['user', 'counterparty', 'ip', 'device'])
export type ListKind = z.infer<typeof ListKind>

export const RelatedCase = z.object({
  id,
  userId: z.string(),
  status: CaseStatus,
  amount: z.string(),
  /** How the money links them, in words. */
  link: z.string(),
})
export type RelatedCase = z.infer<typeof RelatedCase>

export const CaseDetail = z.object({
  case: CaseSummary,
  alerts: z.array(CaseAlert),
  /** The user's transactions over the case's period, newest first. */
  timeline: z.array(TransactionRow),
  events: z.array(CaseEvent),
  /** Which of this case's identities are on a blocklist already. */
  listed: z.array(z.object({ kind: ListKind, value: z.string() })),
  /** Cases on the other side of a money trail: a TRANSFER, then a CASH_OUT of the same amount. */
  related: z.array(RelatedCase),
})
export type CaseDetail = z.infer<typeof CaseDetail>

const caseRef = z.object({ id, version: z.number().int().min(1) })

export const BlocklistChoice = z.object({
  user: z.boolean().default(false),
  counterparties: z.array(accountId).max(50).default([]),
  ips: z.array(z.string().max(64)).max(50).default([]),
  devices: z.array(z.string().max(128)).max(50).default([]),
  /** Accounts of related cases (the other side of the money trail) to block as users. */
  relatedUsers: z.array(accountId).max(50).default([]),
  /** Days until the entries expire; none means they stay until removed. */
  expiresInDays: z.number().int().min(1).max(3650).optional(),
})
export type BlocklistChoice = z.input<typeof BlocklistChoice>

export const CaseTransition = caseRef.extend({
  status: z.enum(['in_review', 'escalated', 'closed']),
  outcome: CaseOutcome.optional(),
  note: shortText.optional(),
  blocklist: BlocklistChoice.optional(),
})
export type CaseTransition = z.input<typeof CaseTransition>

export const CaseAssignment = caseRef.extend({
  /** null returns the case to the queue. */
  assigneeId: id.nullable(),
  reason: shortText.optional(),
})
export type CaseAssignment = z.input<typeof CaseAssignment>

export const BulkCaseAction = z.object({
  cases: z.array(caseRef).min(1).max(500),
  action: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('assign'), assigneeId: id.nullable(), reason: shortText.optional() }),
    z.object({ kind: z.literal('escalate'), note: shortText.optional() }),
    z.object({ kind: z.literal('close'), outcome: CaseOutcome, note: shortText.optional() }),
  ]),
})
export type BulkCaseAction = z.input<typeof BulkCaseAction>

export const BulkResult = z.object({
  updated: z.array(CaseSummary),
  refused: z.array(z.object({ id, message: z.string() })),
})
export type BulkResult = z.infer<typeof BulkResult>

// ---------------------------------------------------------------------------------------------------------
// Lists

export const ListEntry = z.object({
  id,
  kind: ListKind,
  value: z.string(),
  reason: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  expired: z.boolean(),
})
export type ListEntry = z.infer<typeof ListEntry>

export const ListEntryDraft = z.object({
  kind: ListKind,
  value: z.string().trim().min(1, 'a value is required').max(128),
  reason: z.string().trim().min(1, 'say why it is listed').max(500),
  expiresAt: instant.nullable().optional(),
})
export type ListEntryDraft = z.input<typeof ListEntryDraft>

// ---------------------------------------------------------------------------------------------------------
// Rules

export const RuleVersion = z.object({
  version: z.number().int(),
  author: z.string(),
  comment: z.string(),
  createdAt: z.string(),
  definition: RuleSet,
  /** What changed from the version before, in plain words. */
  changes: z.array(z.string()),
})
export type RuleVersion = z.infer<typeof RuleVersion>

export const RulePrecision = z.object({
  rule: z.string(),
  fired: z.number().int(),
  confirmed: z.number().int(),
  falsePositive: z.number().int(),
  /** Confirmed over (confirmed + false positive); null before any such outcome. */
  precision: z.number().nullable(),
})
export type RulePrecision = z.infer<typeof RulePrecision>

// ---------------------------------------------------------------------------------------------------------
// Dashboard

export const DASHBOARD_RANGES = ['15m', '1h', '6h', '24h', '7d'] as const
export const DashboardRange = z.enum(DASHBOARD_RANGES)
export type DashboardRange = z.infer<typeof DashboardRange>

export const Dashboard = z.object({
  /** The newest event time in the store: ranges end here, so a replay of old data still shows. */
  asOf: z.string().nullable(),
  from: z.string().nullable(),
  bucketSeconds: z.number().int(),
  throughput: z.array(z.object({ t: z.string(), count: z.number() })),
  forecast: z.object({
    model: z.string().nullable(),
    /** Why there is no forecast, when there is none. */
    note: z.string().nullable(),
    points: z.array(z.object({ t: z.string(), mean: z.number(), lower: z.number(), upper: z.number() })),
    spikes: z.array(z.object({ t: z.string(), count: z.number(), expected: z.number(), z: z.number() })),
  }),
  decisions: z.array(
    z.object({
      t: z.string(),
      approve: z.number(),
      review: z.number(),
      block: z.number(),
      /** Known fraud (ground truth or confirmed by analysts) per transaction in the bucket. */
      fraudRate: z.number().nullable(),
    }),
  ),
  amounts: z.array(
    z.object({
      type: TransactionType,
      count: z.number(),
      p05: z.number(),
      p25: z.number(),
      p50: z.number(),
      p75: z.number(),
      p95: z.number(),
    }),
  ),
  topRules: z.array(z.object({ rule: z.string(), count: z.number() })),
})
export type Dashboard = z.infer<typeof Dashboard>

// ---------------------------------------------------------------------------------------------------------
// Settings and submission

export const WebhookSetting = z.object({
  url: z
    .url({ protocol: /^https?$/, message: 'an http:// or https:// address' })
    .max(2000)
    .nullable(),
  /**
   * False where this login may not read the URL (a credential: only admins and the workers do, 0021);
   * `url` is then null whether or not one is set, and `set` says whether one is.
   */
  readable: z.boolean().optional(),
  set: z.boolean().optional(),
  /** Who last set it, and when (ISO time); null when it is not set. */
  setBy: z.string().max(200).nullable().optional(),
  setAt: z.string().max(64).nullable().optional(),
})
export type WebhookSetting = z.infer<typeof WebhookSetting>
/** What an admin sends to set or clear it: the URL alone (who and when are the store's to stamp). */
export const WebhookChange = WebhookSetting.pick({ url: true })
export type WebhookChange = z.infer<typeof WebhookChange>

export const SubmitResult = z.object({
  txnId: z.string(),
  /** Where it went: the team's stream, or the embedded pipeline of Local mode. */
  route: z.enum(['stream', 'local']),
})
export type SubmitResult = z.infer<typeof SubmitResult>

export const triageContract = {
  me: base.output(Analyst),
  analysts: base.output(z.array(Analyst)),
  live: base.output(eventIterator(LiveEvent)),
  transactions: {
    page: base.input(TransactionPageRequest).output(TransactionPage),
    detail: base.input(z.object({ txnId: z.uuid() })).output(TransactionDetail),
    /** The filtered rows as CSV, in chunks, so a large export never sits whole in memory. */
    exportCsv: base.input(CsvExportRequest).output(eventIterator(CsvChunk)),
    submit: base.input(Transaction).output(SubmitResult),
  },
  cases: {
    queue: base.input(CaseQueueRequest).output(z.array(CaseSummary)),
    get: base.input(z.object({ id })).output(CaseDetail),
    /** Hands the signed-in analyst the highest-priority unassigned case, or null when the queue is clear. */
    next: base.output(CaseSummary.nullable()),
    assign: base.input(CaseAssignment).output(CaseSummary),
    transition: base.input(CaseTransition).output(CaseSummary),
    note: base.input(z.object({ id, text: z.string().trim().min(1).max(4000) })).output(CaseEvent),
    bulk: base.input(BulkCaseAction).output(BulkResult),
  },
  lists: {
    list: base
      .input(z.object({ kind: ListKind.optional(), search: z.string().max(128).optional() }))
      .output(z.array(ListEntry)),
    add: base.input(ListEntryDraft).output(ListEntry),
    update: base
      .input(z.object({ id, reason: shortText.min(1), expiresAt: instant.nullable() }))
      .output(ListEntry),
    remove: base.input(z.object({ id })).output(z.object({ id })),
  },
  rules: {
    versions: base.output(z.array(RuleVersion)),
    save: base
      .input(
        z.object({
          /** The version the analyst edited; a newer one saved meanwhile refuses this save. */
          baseVersion: z.number().int().nullable(),
          definition: RuleSet,
          comment: shortText,
        }),
      )
      .output(RuleVersion),
    revert: base
      .input(z.object({ version: z.number().int().min(1), baseVersion: z.number().int().nullable() }))
      .output(RuleVersion),
    precision: base.output(z.array(RulePrecision)),
  },
  dashboard: base.input(z.object({ range: DashboardRange })).output(Dashboard),
  settings: {
    webhook: base.output(WebhookSetting),
    setWebhook: base.input(WebhookChange).output(WebhookSetting),
  },
}
