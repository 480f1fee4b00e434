import type { TransactionRow } from '../../../../shared/triage-contract'

/**
 * Which Decision API key sent a transaction, in words (shared with the CSV export). A transaction without
 * one came another way (a producer writing to the stream, a replay, one typed in here, Local mode's
 * sample): the store cannot tell which, so nothing more is claimed.
 */
export { sentByText } from '../../../../shared/transaction-cells'

export const NOT_THROUGH_THE_API = 'Not through the Decision API'

export function sentByTitle(sentBy: TransactionRow['sentBy']): string {
  if (sentBy === null) return `${NOT_THROUGH_THE_API}: written to the stream directly, replayed or typed in`
  const about =
    sentBy.name === null ? 'a key this team database does not know' : `the API key “${sentBy.name}”`
  return `Sent through the Decision API with ${about}${sentBy.revoked ? ', since revoked' : ''}`
}
