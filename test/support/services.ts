import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { dropTeamDatabase } from '../../src/main/store/drop-database'

/** The shared services of the team backend, as CI and developers have them; overridable by env. */
export const SHARED_POSTGRES_URL =
  process.env.AETHER_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const SHARED_REDIS_URL = process.env.AETHER_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export const uniqueName = (prefix: string) =>
  `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`

export interface TestDatabase {
  url: string
  name: string
  drop(): Promise<void>
}

/** A database of its own on the shared PostgreSQL, dropped afterwards, so runs never meet. */
export async function createTestDatabase(prefix = 'aether_it'): Promise<TestDatabase> {
  const name = uniqueName(prefix)
  const admin = new pg.Client({ connectionString: SHARED_POSTGRES_URL })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const url = new URL(SHARED_POSTGRES_URL)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const client = new pg.Client({ connectionString: SHARED_POSTGRES_URL })
      await client.connect()
      try {
        await dropTeamDatabase(client, name)
      } finally {
        await client.end()
      }
    },
  }
}
