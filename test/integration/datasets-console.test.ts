import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Dataset, SqlAnswer } from '../../src/shared/datasets-contract'
import {
  collect,
  openDatasetsHarness,
  readyDataset,
  sqlAnswer,
  type DatasetsHarness,
} from '../support/datasets'

let harness: DatasetsHarness
let dataset: Dataset
let outside: string

beforeAll(async () => {
  harness = await openDatasetsHarness()
  dataset = readyDataset(await collect(await harness.client.datasets.openSample()))
  outside = await mkdtemp(join(tmpdir(), 'aether-console-outside-'))
})

afterAll(async () => {
  await harness.dispose()
  await rm(outside, { recursive: true, force: true })
})

const run = async (sql: string) =>
  sqlAnswer(await harness.client.datasets.sql({ datasetId: dataset.id, sql }))

function expectRefused(answer: SqlAnswer, reason: RegExp) {
  expect(answer.outcome).toBe('error')
  if (answer.outcome === 'error') expect(answer.message).toMatch(reason)
}

describe('the SQL console', () => {
  it('runs a query whose rows page through the grid', async () => {
    const sql =
      "SELECT user_id, amount FROM transactions WHERE type = 'TRANSFER' AND label ORDER BY amount DESC;"
    const answer = await run(sql)
    expect(answer).toMatchObject({ outcome: 'query', rowCount: 39 })
    if (answer.outcome !== 'query') return
    expect(answer.columns.map((column) => column.name)).toEqual(['user_id', 'amount'])
    const rows = await harness.client.datasets.rows({
      datasetId: dataset.id,
      source: { kind: 'console', sql },
      startRow: 0,
      endRow: 10,
      sort: [{ colId: 'amount', sort: 'asc' }],
      withCount: true,
    })
    expect(rows.rowCount).toBe(39)
    const amounts = rows.rows.map((row) => Number(row.amount))
    expect(amounts).toEqual([...amounts].sort((a, b) => a - b))
  })

  it('shows other statements as they are', async () => {
    const answer = await run('EXPLAIN SELECT count(*) FROM transactions')
    expect(answer.outcome).toBe('rows')
  })

  it('points at the error: line and column', async () => {
    const syntax = await run('SELECT amount,\n  user_id +\nFROM transactions')
    expect(syntax).toMatchObject({ outcome: 'error', line: 3, column: 1 })
    const binder = await run('SELECT amount, nope FROM transactions')
    expect(binder).toMatchObject({ outcome: 'error', line: 1, column: 16 })
    if (binder.outcome === 'error') expect(binder.message).toMatch(/"nope" not found/)
  })

  it('runs one statement at a time', async () => {
    expectRefused(await run('SELECT 1; SELECT 2'), /one statement at a time/)
  })
})

describe('what the console refuses', () => {
  it('reads no file outside the database', async () => {
    expectRefused(await run("SELECT * FROM read_csv('/etc/passwd')"), /Permission Error/)
    expectRefused(await run("SELECT * FROM read_text('/etc/passwd')"), /Permission Error/)
    expectRefused(await run("SELECT * FROM glob('/etc/*')"), /Permission Error/)
  })

  it('writes no file', async () => {
    const target = join(outside, 'stolen.csv')
    expectRefused(await run(`COPY (SELECT * FROM transactions) TO '${target}'`), /Permission Error/)
    expectRefused(await run(`COPY source TO '${target}' (FORMAT csv)`), /Permission Error/)
    expectRefused(await run(`EXPORT DATABASE '${outside}'`), /Permission Error/)
    expect(existsSync(target)).toBe(false)
  })

  it('attaches no other database', async () => {
    expectRefused(await run(`ATTACH '${join(outside, 'other.duckdb')}' AS other`), /Permission Error/)
    expectRefused(await run("ATTACH ':memory:' AS scratch"), /read-only mode/)
    expect(existsSync(join(outside, 'other.duckdb'))).toBe(false)
  })

  it('installs and loads no extension', async () => {
    expectRefused(await run('INSTALL httpfs'), /Permission Error/)
    expectRefused(await run('LOAD httpfs'), /disabled/)
  })

  it('cannot unlock itself', async () => {
    expectRefused(await run('SET enable_external_access = true'), /configuration has been locked/)
    expectRefused(await run("SET allowed_directories = ['/']"), /configuration has been locked/)
    expectRefused(await run('RESET enable_external_access'), /locked/)
  })

  it('changes nothing in the dataset', async () => {
    expectRefused(await run('DELETE FROM source'), /read-only/)
    expectRefused(await run('DROP VIEW transactions'), /read-only/)
    expectRefused(await run('CREATE TABLE copied AS SELECT * FROM source'), /read-only/)
    const count = await run('SELECT count(*) AS n FROM source')
    expect(count).toMatchObject({ outcome: 'query', rowCount: 1 })
    const rows = await harness.client.datasets.rows({
      datasetId: dataset.id,
      source: { kind: 'console', sql: 'SELECT count(*) AS n FROM source' },
      startRow: 0,
      endRow: 1,
    })
    expect(rows.rows[0]?.n).toBe('19999')
  })
})

describe('the grid over a console query', () => {
  it('pages through one query only, whatever SQL its calls carry', async () => {
    for (const sql of [
      'SELECT 1) AS q; INSTALL httpfs; SELECT * FROM (SELECT 1',
      'SELECT 1; SELECT 2',
      'EXPLAIN SELECT 1',
    ])
      await expect(
        harness.client.datasets.rows({
          datasetId: dataset.id,
          source: { kind: 'console', sql },
          startRow: 0,
          endRow: 10,
        }),
      ).rejects.toMatchObject({ code: 'CONFLICT' })
  })
})
