import { beforeAll, describe, expect, it } from 'vitest'
import { memoryDuckDB } from '../../../test/support/memory-duckdb'
import type { AnalysisName } from '../../shared/datasets-contract'
import {
  CHAIN_LINKS_TABLE,
  createChainLinksSql,
  createFraudRecipientsSql,
  FRAUD_RECIPIENTS_TABLE,
  runAnalysis,
} from './analyses'
import { hasTable } from './duck'
import { TRANSACTIONS_VIEW } from './layout'

/** What is kept at import gives the analyses exactly what finding it afresh gives. */

const duck = memoryDuckDB()
beforeAll(async () => {
  const { connection } = duck
  await connection.run(`CREATE TABLE ${TRANSACTIONS_VIEW} AS
    SELECT i AS seq, 1 + i // 40 AS step,
      CASE WHEN i % 3 = 0 THEN 'TRANSFER' WHEN i % 3 = 1 THEN 'CASH_OUT' ELSE 'PAYMENT' END AS type,
      'C' || (i % 97) AS user_id, 'C' || ((i * 7) % 89) AS counterparty_id,
      CAST(CASE WHEN i % 4 = 0 THEN 9 ELSE 100 + (i % 5) * 4950 END AS DECIMAL(18, 2)) AS amount, i % 11 = 0 AS label
    FROM range(1, 3000) AS r(i)`)
})

/** The analysis found afresh, then with the table the import keeps (made, checked there, dropped again). */
async function afreshAndKept(analysis: AnalysisName, createSql: string, table: string) {
  const afresh = await runAnalysis(duck.connection, analysis)
  await duck.connection.run(createSql)
  expect(await hasTable(duck.connection, table)).toBe(true)
  const kept = await runAnalysis(duck.connection, analysis)
  await duck.connection.run(`DROP TABLE ${table}`)
  return { afresh, kept }
}

describe('TRANSFER → CASH_OUT chains', () => {
  it('reads the links kept at import as it finds them afresh', async () => {
    const { afresh, kept } = await afreshAndKept(
      'transfer-cashout-chains',
      createChainLinksSql(),
      CHAIN_LINKS_TABLE,
    )

    expect(kept).toEqual(afresh)
    if (afresh.analysis !== 'transfer-cashout-chains') throw new Error('another analysis answered')
    expect(afresh.byAccount.chains).toBeGreaterThan(0)
    expect(afresh.byAmount.chains).toBeGreaterThan(afresh.rows.length)
    expect(afresh.rows).toHaveLength(50)
    expect(afresh.rows[0]?.fraud).toBe(true)
  })
})

describe('mule accounts', () => {
  it('reads the fraud recipients kept at import as it finds them afresh', async () => {
    const { afresh, kept } = await afreshAndKept(
      'mule-accounts',
      createFraudRecipientsSql(),
      FRAUD_RECIPIENTS_TABLE,
    )

    expect(kept).toEqual(afresh)
    if (afresh.analysis !== 'mule-accounts') throw new Error('another analysis answered')
    expect(afresh.rows).toHaveLength(20)
    // Ranked by the fraudulent amount received, as a number, not as text.
    const amounts = afresh.rows.map((row) => [Number(row.fraudAmount), row.fraudReceived] as const)
    expect(amounts).toEqual([...amounts].sort((a, b) => b[0] - a[0] || b[1] - a[1]))
    // Each listed account received fraud, and more than fraud: what it received counts every transaction.
    const [top] = afresh.rows
    expect(top?.fraudReceived).toBeGreaterThan(0)
    expect(afresh.rows.some((row) => row.received > row.fraudReceived)).toBe(true)
  })
})
