import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { afterAll, beforeAll } from 'vitest'

/**
 * An in-memory DuckDB for the tests of one file: opened before them, closed after them. Read
 * `duck.connection` inside a test or a later hook.
 */
export function memoryDuckDB(): { readonly connection: DuckDBConnection } {
  let instance: DuckDBInstance | undefined
  let connection: DuckDBConnection | undefined
  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:')
    connection = await instance.connect()
  })
  afterAll(() => {
    connection?.closeSync()
    instance?.closeSync()
  })
  return {
    get connection() {
      if (connection === undefined) throw new Error('The in-memory DuckDB is opened in beforeAll')
      return connection
    },
  }
}
