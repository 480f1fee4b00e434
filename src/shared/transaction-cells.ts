import type { TransactionRow } from './triage-contract'

/**
 * Which Decision API key sent a transaction, as the grid, the CSV export and "Copy selected" all write
 * it: the key's name, "(revoked)" after a revoked one's, `key #id` for a key this database does not
 * know; blank for a transaction that came another way (the store cannot tell which, so nothing is said).
 */
export function sentByText(sentBy: TransactionRow['sentBy']): string {
  if (sentBy === null) return ''
  const name = sentBy.name ?? `key #${sentBy.keyId}`
  return sentBy.revoked ? `${name} (revoked)` : name
}

/** The columns of a transaction as the CSV export and "Copy selected" write it, in this order. */
export const TRANSACTION_COLUMNS = [
  'txn_id',
  'ts',
  'user_id',
  'counterparty_id',
  'type',
  'amount',
  'currency',
  'score',
  'decision',
  'reasons',
  'case_id',
  // The Decision API key's name, as the grid's "Sent by"; blank for a transaction not sent through it.
  'sent_by',
] as const

/** One transaction's cells under TRANSACTION_COLUMNS (null where it has no score, decision or case). */
export const transactionCells = (row: TransactionRow): (string | number | null)[] => [
  row.txnId,
  row.ts,
  row.userId,
  row.counterpartyId,
  row.type,
  row.amount,
  row.currency,
  row.score,
  row.decision,
  row.reasons.map((reason) => reason.text).join('; '),
  row.caseId,
  sentByText(row.sentBy),
]
