import type { DuckDBConnection } from '@duckdb/node-api'
import type { AnalysisName, AnalysisResult, Cell } from '../../shared/datasets-contract'
import { asNumber, asText, hasTable, readRows } from './duck'
import { TRANSACTIONS_VIEW } from './layout'

/**
 * The canned analyses of a PaySim dataset, each one aggregate query over the transactions view, so each
 * answers in a fraction of a second on the full 6.36M rows.
 */

const MULES_LISTED = 20
const CHAINS_LISTED = 50

const text = (cell: Cell | undefined) => asText(cell) ?? ''

async function fraudByType(connection: DuckDBConnection): Promise<AnalysisResult> {
  const rows = await readRows(
    connection,
    `SELECT type, count(*) AS transactions, count(*) FILTER (label) AS fraud
     FROM ${TRANSACTIONS_VIEW} WHERE type IS NOT NULL GROUP BY type ORDER BY type`,
  )
  return {
    analysis: 'fraud-by-type',
    rows: rows.map((row) => {
      const transactions = asNumber(row.transactions)
      const fraud = asNumber(row.fraud)
      return {
        type: text(row.type),
        transactions,
        fraud,
        rate: transactions === 0 ? 0 : fraud / transactions,
      }
    }),
  }
}

/** Bins a quarter of a decade wide, so amounts from cents to millions fit one readable axis. */
async function amountDistribution(connection: DuckDBConnection): Promise<AnalysisResult> {
  const rows = await readRows(
    connection,
    `SELECT CAST(floor(log10(CAST(amount AS DOUBLE)) * 4) AS INTEGER) AS bin,
       count(*) FILTER (NOT label) AS legit, count(*) FILTER (label) AS fraud
     FROM ${TRANSACTIONS_VIEW} WHERE amount > 0 GROUP BY bin ORDER BY bin`,
  )
  return {
    analysis: 'amount-distribution',
    bins: rows.map((row) => {
      const bin = asNumber(row.bin)
      return {
        lower: Number((10 ** (bin / 4)).toPrecision(6)),
        upper: Number((10 ** ((bin + 1) / 4)).toPrecision(6)),
        legit: asNumber(row.legit),
        fraud: asNumber(row.fraud),
      }
    }),
  }
}

async function volumeByStep(connection: DuckDBConnection): Promise<AnalysisResult> {
  const rows = await readRows(
    connection,
    `SELECT step, CAST(min(ts) AS VARCHAR) AS ts, count(*) AS transactions, count(*) FILTER (label) AS fraud,
       CAST(coalesce(sum(amount), 0) AS VARCHAR) AS amount
     FROM ${TRANSACTIONS_VIEW} WHERE step IS NOT NULL GROUP BY step ORDER BY step`,
  )
  return {
    analysis: 'volume-by-step',
    points: rows.map((row) => ({
      step: asNumber(row.step),
      ts: text(row.ts),
      transactions: asNumber(row.transactions),
      fraud: asNumber(row.fraud),
      amount: text(row.amount),
    })),
  }
}

async function balanceDrain(connection: DuckDBConnection): Promise<AnalysisResult> {
  const rows = await readRows(
    connection,
    `SELECT type, coalesce(empties_account, false) AS empties, count(*) AS transactions, count(*) FILTER (label) AS fraud
     FROM ${TRANSACTIONS_VIEW} WHERE type IN ('TRANSFER', 'CASH_OUT') GROUP BY ALL ORDER BY type, empties`,
  )
  return {
    analysis: 'balance-drain',
    rows: rows.map((row) => ({
      type: text(row.type),
      emptiesAccount: row.empties === true,
      transactions: asNumber(row.transactions),
      fraud: asNumber(row.fraud),
    })),
  }
}

/** The accounts that received the most fraud; `received` counts everything they received. */
/**
 * Every account that received fraud, with how much and how often, and everything it received: kept at
 * import (a dataset never changes), as counting what a few thousand accounts received reads every row's
 * recipient (about 130 ms of the analysis on the full PaySim).
 */
const FRAUD_RECIPIENTS_QUERY = `WITH fraud AS MATERIALIZED (
       SELECT counterparty_id AS account, count(*) AS fraud_received, sum(amount) AS fraud_amount
       FROM ${TRANSACTIONS_VIEW} WHERE label AND counterparty_id IS NOT NULL
       GROUP BY counterparty_id
     ), received AS (
       SELECT counterparty_id AS account, count(*) AS received FROM ${TRANSACTIONS_VIEW}
       WHERE counterparty_id IN (SELECT account FROM fraud) GROUP BY counterparty_id
     )
     SELECT account, fraud_received, fraud_amount, received FROM fraud JOIN received USING (account)`
export const FRAUD_RECIPIENTS_TABLE = 'fraud_recipients'
export const createFraudRecipientsSql = () =>
  `CREATE TABLE ${FRAUD_RECIPIENTS_TABLE} AS ${FRAUD_RECIPIENTS_QUERY}`
/** The recipients found afresh (the benchmark times this beside the analysis). */
export const fraudRecipientsQuery = () => FRAUD_RECIPIENTS_QUERY

/** The table kept at import, or for a dataset imported before it was kept, its query. */
async function keptOrAfresh(connection: DuckDBConnection, table: string, query: string): Promise<string> {
  return (await hasTable(connection, table)) ? table : `(${query})`
}

async function muleAccounts(connection: DuckDBConnection): Promise<AnalysisResult> {
  const recipients = await keptOrAfresh(connection, FRAUD_RECIPIENTS_TABLE, FRAUD_RECIPIENTS_QUERY)
  const rows = await readRows(
    connection,
    // Ranked by the fraudulent amount received (most accounts receive fraud once, so a count ranks
    // nothing), as a number: the text of it (the alias) would put 9.00 above 10000.00.
    `SELECT account, fraud_received, CAST(r.fraud_amount AS VARCHAR) AS fraud_amount, received
     FROM ${recipients} AS r
     ORDER BY r.fraud_amount DESC, r.fraud_received DESC, r.account LIMIT ${MULES_LISTED}`,
  )
  return {
    analysis: 'mule-accounts',
    rows: rows.map((row) => ({
      account: text(row.account),
      fraudReceived: asNumber(row.fraud_received),
      fraudAmount: text(row.fraud_amount),
      received: asNumber(row.received),
    })),
  }
}

/**
 * Every TRANSFER → CASH_OUT pair that could be one movement of money, with what the listing shows: linked
 * by account (the recipient of the transfer later cashes out) or by amount (the same amount cashed out
 * later in the same step). Each side is read once, and each join builds its hash table on the transfers,
 * a quarter of the size of the cash-outs.
 */
const CHAIN_LINKS_QUERY = `WITH transfers AS MATERIALIZED (
       SELECT seq, step, counterparty_id AS account, amount, label FROM ${TRANSACTIONS_VIEW} WHERE type = 'TRANSFER'
     ), cash_outs AS MATERIALIZED (
       SELECT seq, step, user_id AS account, amount, label FROM ${TRANSACTIONS_VIEW} WHERE type = 'CASH_OUT'
     )
     SELECT 'account' AS link, t.seq AS transfer_seq, c.seq AS cash_out_seq, coalesce(t.label OR c.label, false) AS fraud,
       t.account AS recipient, c.account AS cash_out_account, t.step AS transfer_step, c.step AS cash_out_step, t.amount
     FROM cash_outs c JOIN transfers t
       ON c.account = t.account AND (c.step > t.step OR (c.step = t.step AND c.seq > t.seq))
     UNION ALL
     SELECT 'amount', t.seq, c.seq, coalesce(t.label OR c.label, false), t.account, c.account, t.step, c.step, t.amount
     FROM cash_outs c JOIN transfers t ON c.step = t.step AND c.amount = t.amount AND c.seq > t.seq`

/**
 * The chain links of a PaySim dataset, made once when it is imported: a dataset never changes, and
 * finding them joins millions of rows by account (about 0.4 s on the full PaySim), where reading them
 * back takes milliseconds.
 */
export const CHAIN_LINKS_TABLE = 'chain_links'
export const createChainLinksSql = () => `CREATE TABLE ${CHAIN_LINKS_TABLE} AS ${CHAIN_LINKS_QUERY}`
/** The links found afresh (the benchmark times this beside the analysis). */
export const chainLinksQuery = () => CHAIN_LINKS_QUERY

async function transferCashOutChains(connection: DuckDBConnection): Promise<AnalysisResult> {
  const links = await keptOrAfresh(connection, CHAIN_LINKS_TABLE, CHAIN_LINKS_QUERY)
  // The totals row is kept when there is no chain at all.
  const rows = await readRows(
    connection,
    `WITH chains AS MATERIALIZED (SELECT * FROM ${links}),
     totals AS (
       SELECT count(*) FILTER (link = 'account') AS by_account,
         count(*) FILTER (link = 'account' AND fraud) AS by_account_fraud,
         count(*) FILTER (link = 'amount') AS by_amount,
         count(*) FILTER (link = 'amount' AND fraud) AS by_amount_fraud
       FROM chains
     ), listed AS (
       SELECT * REPLACE (CAST(amount AS VARCHAR) AS amount)
       FROM chains ORDER BY fraud DESC, link, transfer_seq, cash_out_seq LIMIT ${CHAINS_LISTED}
     )
     SELECT * FROM totals LEFT JOIN listed ON true
     ORDER BY fraud DESC, link, transfer_seq, cash_out_seq`,
  )
  const totals = rows[0] ?? {}
  return {
    analysis: 'transfer-cashout-chains',
    byAccount: { chains: asNumber(totals.by_account), fraudChains: asNumber(totals.by_account_fraud) },
    byAmount: { chains: asNumber(totals.by_amount), fraudChains: asNumber(totals.by_amount_fraud) },
    rows: rows
      .filter((row) => row.transfer_seq !== null)
      .map((row) => ({
        link: row.link === 'account' ? 'account' : 'amount',
        transferSeq: asNumber(row.transfer_seq),
        cashOutSeq: asNumber(row.cash_out_seq),
        recipient: text(row.recipient),
        cashOutAccount: text(row.cash_out_account),
        transferStep: asNumber(row.transfer_step),
        cashOutStep: asNumber(row.cash_out_step),
        amount: text(row.amount),
        fraud: row.fraud === true,
      })),
  }
}

const ANALYSIS_QUERIES: Record<AnalysisName, (connection: DuckDBConnection) => Promise<AnalysisResult>> = {
  'fraud-by-type': fraudByType,
  'amount-distribution': amountDistribution,
  'volume-by-step': volumeByStep,
  'balance-drain': balanceDrain,
  'mule-accounts': muleAccounts,
  'transfer-cashout-chains': transferCashOutChains,
}

export function runAnalysis(connection: DuckDBConnection, name: AnalysisName): Promise<AnalysisResult> {
  return ANALYSIS_QUERIES[name](connection)
}
