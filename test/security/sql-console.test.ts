import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { openLockedDown, openWritable, withConnection } from '../../src/main/analysis/duck'
import { runConsoleStatement } from '../../src/main/analysis/sql-console'
import { attempt, type Outcome } from './support/attempts'

/**
 * The analyst's SQL console over an imported dataset (DuckDB, locked down): no reading or writing
 * files, no network, no extensions, no other databases, no change to the dataset or the configuration.
 */

let dir: string
let dataset: string
let locked: DuckDBInstance
let connection: DuckDBConnection

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aether-console-'))
  dataset = join(dir, 'paysim.duckdb')
  const writable = await openWritable(dataset)
  await withConnection(writable, (setup) =>
    setup.run(`CREATE TABLE transactions AS
      SELECT range AS step, 'TRANSFER' AS type, range * 10.5 AS amount FROM range(100)`),
  )
  writable.closeSync()
  await writeFile(join(dir, 'secret.csv'), 'card,pin\n4111111111111111,1234\n')
  locked = await openLockedDown(dataset)
  connection = await locked.connect()
})

afterAll(async () => {
  connection?.closeSync()
  locked?.closeSync()
  await rm(dir, { recursive: true, force: true })
})

/** Refused when the console answers with an error and the statement left no trace. */
const refusedStatement =
  (sql: () => string, leftNoTrace: () => boolean = () => true) =>
  async (): Promise<Outcome> => {
    const answer = await runConsoleStatement(connection, sql())
    if (answer.outcome !== 'error') return { refused: false, detail: `answered ${answer.outcome}` }
    if (!leftNoTrace()) return { refused: false, detail: `refused (${answer.message}) but left a trace` }
    return { refused: true, detail: answer.message.split('\n')[0] ?? '' }
  }

const outside = (name: string) => join(dir, name)

const ATTEMPTS: [string, () => Promise<Outcome>][] = [
  ['reads /etc/passwd as CSV', refusedStatement(() => `SELECT * FROM read_csv('/etc/passwd')`)],
  ['reads /etc/passwd as a table name', refusedStatement(() => `SELECT * FROM '/etc/passwd'`)],
  ['reads /etc/passwd as text', refusedStatement(() => `SELECT * FROM read_text('/etc/passwd')`)],
  [
    'reads a file next to the dataset',
    refusedStatement(() => `SELECT * FROM read_csv_auto('${outside('secret.csv')}')`),
  ],
  ['lists files with glob', refusedStatement(() => `SELECT * FROM glob('/etc/*')`)],
  [
    'reads over the network',
    refusedStatement(() => `SELECT * FROM read_parquet('https://example.com/x.parquet')`),
  ],
  [
    'writes a file with COPY … TO',
    refusedStatement(
      () => `COPY (SELECT * FROM transactions) TO '${outside('stolen.csv')}'`,
      () => !existsSync(outside('stolen.csv')),
    ),
  ],
  [
    'exports the database to a folder',
    refusedStatement(
      () => `EXPORT DATABASE '${outside('export')}'`,
      () => !existsSync(outside('export')),
    ),
  ],
  [
    'attaches another database file',
    refusedStatement(
      () => `ATTACH '${outside('other.duckdb')}' AS other`,
      () => !existsSync(outside('other.duckdb')),
    ),
  ],
  [
    'attaches the dataset again, writable',
    refusedStatement(() => `ATTACH '${dataset}' AS again (READ_WRITE)`),
  ],
  ['installs an extension', refusedStatement(() => `INSTALL httpfs`)],
  ['loads an extension', refusedStatement(() => `LOAD httpfs`)],
  ['turns external access back on', refusedStatement(() => `SET enable_external_access = true`)],
  ['unlocks the configuration', refusedStatement(() => `SET lock_configuration = false`)],
  ['allows unsigned extensions', refusedStatement(() => `SET allow_unsigned_extensions = true`)],
  ['moves the temp directory', refusedStatement(() => `SET temp_directory = '/etc'`)],
  ['raises its memory limit', refusedStatement(() => `SET memory_limit = '100GB'`)],
  ['raises its spill limit', refusedStatement(() => `SET max_temp_directory_size = '1TB'`)],
  // 3.2 GB of list (the filter makes the row count need it): without the console's limit the process grew
  // to 6.7 GB and answered.
  [
    'holds more memory than its limit',
    refusedStatement(() => `SELECT n FROM (SELECT len(list(range)) AS n FROM range(400000000)) WHERE n > 0`),
  ],
  ['deletes dataset rows', refusedStatement(() => `DELETE FROM transactions`)],
  ['changes dataset rows', refusedStatement(() => `UPDATE transactions SET amount = 0`)],
  ['adds a table to the dataset', refusedStatement(() => `CREATE TABLE loot AS SELECT 1 AS x`)],
  ['drops the dataset table', refusedStatement(() => `DROP TABLE transactions`)],
  ['runs two statements at once', refusedStatement(() => `SELECT 1; DROP TABLE transactions`)],
]

describe('the SQL console', () => {
  for (const [action, run] of ATTEMPTS)
    it(`refuses when it ${action}`, () => attempt(`console: ${action}`, run))
})
