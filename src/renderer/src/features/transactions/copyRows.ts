import type { TransactionRow } from '../../../../shared/triage-contract'
import { sentByText } from './sentBy'

/**
 * "Copy selected": the rows as tab-separated text with a header line, for a spreadsheet or a ticket.
 * The columns are the CSV export's (main/triage/transactions.ts), the key's name under sent_by (blank
 * for a row not sent through the Decision API); tabs and line breaks inside a cell become spaces.
 */
export const copiedRows = (rows: readonly TransactionRow[]): string =>
  [
    [
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
      'sent_by',
    ],
    ...rows.map((r) => [
      r.txnId,
      r.ts,
      r.userId,
      r.counterpartyId,
      r.type,
      r.amount,
      r.currency,
      r.score ?? '',
      r.decision ?? '',
      r.reasons.map((reason) => reason.text).join('; '),
      r.caseId ?? '',
      sentByText(r.sentBy),
    ]),
  ]
    .map((cells) => cells.map((cell) => String(cell).replace(/[\t\r\n]/g, ' ')).join('\t'))
    .join('\n')
