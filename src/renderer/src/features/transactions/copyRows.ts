import { TRANSACTION_COLUMNS, transactionCells } from '../../../../shared/transaction-cells'
import type { TransactionRow } from '../../../../shared/triage-contract'

/**
 * "Copy selected": the rows as tab-separated text with a header line, for a spreadsheet or a ticket.
 * The columns and cells are the CSV export's (shared/transaction-cells.ts): empty where a row has no
 * score, decision or case; tabs and line breaks inside a cell become spaces.
 */
export const copiedRows = (rows: readonly TransactionRow[]): string =>
  [[...TRANSACTION_COLUMNS], ...rows.map(transactionCells)]
    .map((cells) => cells.map((cell) => String(cell ?? '').replace(/[\t\r\n]/g, ' ')).join('\t'))
    .join('\n')
