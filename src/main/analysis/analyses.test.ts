import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHAIN_LINKS_TABLE, createChainLinksSql, runAnalysis } from './analyses'
import { TRANSACTIONS_VIEW } from './layout'

/** The chain links kept at import give the analysis exactly what finding them afresh gives. */

let instance: DuckDBInstance
let connection: DuckDBConnection
beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:')
  connection = await instance.connect()
  await connection.run(`CREATE TABLE ${TRANSACTIONS_VIEW} AS
    SELECT i AS seq, 1 + i // 40 AS step,
      CASE WHEN i % 3 = 0 THEN 'TRANSFER' WHEN i % 3 = 1 THEN 'CASH_OUT' ELSE 'PAYMENT' END AS type,
      'C' || (i % 97) AS user_id, 'C' || ((i * 7) % 89) AS counterparty_id,
      CAST(100 + (i % 5) * 50 AS DECIMAL(18, 2)) AS amount, i % 11 = 0 AS label
    FROM range(1, 3000) AS r(i)`)
})
afterAll(() => {
  connection.closeSync()
  instance.closeSync()
})

describe('TRANSFER → CASH_OUT chains', () => {
  it('reads the links kept at import as it finds them afresh', async () => {
    const afresh = await runAnalysis(connection, 'transfer-cashout-chains')
    await connection.run(createChainLinksSql())
    const kept = await runAnalysis(connection, 'transfer-cashout-chains')
    await connection.run(`DROP TABLE ${CHAIN_LINKS_TABLE}`)

    expect(kept).toEqual(afresh)
    if (afresh.analysis !== 'transfer-cashout-chains') throw new Error('another analysis answered')
    expect(afresh.byAccount.chains).toBeGreaterThan(0)
    expect(afresh.byAmount.chains).toBeGreaterThan(afresh.rows.length)
    expect(afresh.rows).toHaveLength(50)
    expect(afresh.rows[0]?.fraud).toBe(true)
  })
})
