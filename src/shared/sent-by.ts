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
