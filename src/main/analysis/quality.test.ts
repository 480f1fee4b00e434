import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PAYSIM_COLUMNS } from '../../shared/paysim'
import { REPEAT_USERS_TABLE, repeatUsersQuery } from './backtest'
import { runImport, type ImportOutcome } from './importer'

/** The quality report of a PaySim file as an analyst reads it, from a real import into a DuckDB file. */

let scratch: string
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'aether-quality-'))
})
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true })
})

async function importFile(name: string): Promise<{ outcome: ImportOutcome; databasePath: string }> {
  const sourcePath = join(scratch, name)
  const databasePath = join(scratch, `${name}.duckdb`)
  const outcome = await runImport(
    { databasePath, sourcePath, format: 'csv', sourceBytes: (await stat(sourcePath)).size, datasetKey: name },
    () => {},
    new AbortController().signal,
  )
  return { outcome, databasePath }
}

async function readColumn(databasePath: string, sql: string): Promise<unknown[]> {
  const instance = await DuckDBInstance.create(databasePath, { access_mode: 'READ_ONLY' })
  const connection = await instance.connect()
  try {
    return (await connection.runAndReadAll(sql)).getRows().map((row) => row[0])
  } finally {
    connection.closeSync()
    instance.closeSync()
  }
}

/** A consistent PAYMENT of `amount` from `user` (balance 1000 before). */
const payment = (user: string, amount: number, step = 1) =>
  `${step},PAYMENT,${amount},${user},1000,${1000 - amount},M${amount},0,0,0,0`

describe('the quality report of a PaySim file', () => {
  it('finds repeated rows, first lines in file order and the users who pay more than once', async () => {
    const lines = [
      PAYSIM_COLUMNS.join(','),
      payment('C1', 10), // line 2
      '1,PAYMENT,ten,C9,1000,990,M9,0,0,0,0', // line 3: set aside, the lines after it keep their numbers
      payment('C2', 20), // 4
      payment('C1', 10), // 5: repeats line 2
      payment('C2', 25), // 6: C2 again, another payment
      payment('', 7), // 7: no user
      payment('', 7), // 8: repeats line 7
      '1,PAYMENT,,C3,1000,990,M3,0,0,0,0', // 9: no amount
      ...Array.from({ length: 7 }, (_, i) => `1,PAYMENT,10,C${20 + i},1000,500,M1,0,0,0,0`), // 10-16: origin off
      payment('C4', 30, 2), // 17
    ]
    await writeFile(join(scratch, 'small.csv'), `${lines.join('\n')}\n`)
    const { outcome, databasePath } = await importFile('small.csv')
    const { quality } = outcome

    expect(quality.rowCount).toBe(15)
    expect(quality.rejects.map((reject) => reject.line)).toEqual([3])
    expect(quality.duplicates).toEqual({ key: 'every column', extraRows: 2, lines: [2, 5, 7, 8] })
    expect(quality.paysim?.originBalanceErrors).toEqual({
      rows: 7,
      fraudRows: 0,
      lines: [10, 11, 12, 13, 14],
    })
    const amount = quality.columns.find((column) => column.name === 'amount')
    expect(amount).toMatchObject({ nulls: 1, nullLines: [9], min: '7.00', max: '30.00', distinctExact: true })
    // The users the backtest keeps apart, as it finds them afresh: the empty name is no user.
    const kept = await readColumn(databasePath, `SELECT user_id FROM ${REPEAT_USERS_TABLE} ORDER BY 1`)
    expect(kept).toEqual(['C1', 'C2'])
    expect(await readColumn(databasePath, `SELECT user_id FROM (${repeatUsersQuery()}) ORDER BY 1`)).toEqual(
      kept,
    )
    expect(quality.columns.find((column) => column.name === 'nameOrig')).toMatchObject({
      distinct: 11,
      distinctExact: true,
    })
  })

  it('counts exactly where it is cheap on a large file, and estimates no more values than rows', async () => {
    // 2,000,100 rows, past the size where every column is counted exactly. Each row is made from k, its
    // row number, except rows 100 and 1,000,000, which repeat the row before them (lines 101-102 and
    // 1,000,001-1,000,002).
    const path = join(scratch, 'large.csv')
    const instance = await DuckDBInstance.create(':memory:')
    const connection = await instance.connect()
    await connection.run(`COPY (
      SELECT 1 + k % 24 AS step, ['PAYMENT', 'TRANSFER', 'CASH_OUT'][1 + k % 3] AS type, 1 + k % 1000 AS amount,
        'C' || k AS nameOrig, 5000 AS oldbalanceOrg, 4999 - k % 1000 AS newbalanceOrig, 'M' || (k % 700000) AS nameDest,
        k AS oldbalanceDest, k AS newbalanceDest, CAST(k % 997 = 0 AS INTEGER) AS isFraud, 0 AS isFlaggedFraud
      FROM (SELECT CASE WHEN i IN (100, 1000000) THEN i - 1 ELSE i END AS k FROM range(2000100) AS r(i))
    ) TO '${path}' (HEADER, DELIMITER ',')`)
    connection.closeSync()
    instance.closeSync()

    const { quality } = (await importFile('large.csv')).outcome
    const column = (name: string) => quality.columns.find((candidate) => candidate.name === name)
    expect(quality.rowCount).toBe(2_000_100)
    expect(column('type')).toMatchObject({ distinct: 3, distinctExact: true, min: null, max: null })
    expect(column('isFraud')).toMatchObject({ distinct: 2, distinctExact: true, min: null, max: null })
    expect(column('step')).toMatchObject({ distinct: 24, distinctExact: true, min: '1', max: '24' })
    expect(column('amount')).toMatchObject({ distinct: 1000, distinctExact: true })
    // Estimated: 700,000 names, and a balance nearly unique to each row, never more values than rows.
    for (const [name, least] of [
      ['nameDest', 500_000],
      ['oldbalanceDest', 1_500_000],
    ] as const) {
      expect(column(name)?.distinctExact, name).toBe(false)
      expect(column(name)?.distinct, name).toBeGreaterThan(least)
      expect(column(name)?.distinct, name).toBeLessThanOrEqual(2_000_100)
    }
    // The names of the paying users are counted as they are grouped to find the repeated rows.
    expect(column('nameOrig')).toMatchObject({ distinct: 2_000_098, distinctExact: true })
    expect(quality.duplicates).toEqual({
      key: 'every column',
      extraRows: 2,
      lines: [101, 102, 1_000_001, 1_000_002],
    })
  }, 60_000)
})
