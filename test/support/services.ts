import { randomBytes } from 'node:crypto'
import pg from 'pg'

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
        // Migration 0007 gave the database group roles of its own; roles are cluster-wide, so they go too.
        const { rows } = await client.query<{ oid: string }>(
          'SELECT oid FROM pg_database WHERE datname = $1',
          [name],
        )
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        const oid = rows[0]?.oid
        if (oid !== undefined)
          await client.query(
            `DO $$ DECLARE r text; BEGIN
               FOR r IN SELECT rolname FROM pg_roles
                         WHERE rolname ~ ('^aether_.*_' || ${Number(oid)} || '_(analyst|supervisor|admin|ingest)$')
               LOOP EXECUTE format('DROP ROLE %I', r); END LOOP;
             END $$`,
          )
      } finally {
        await client.end()
      }
    },
  }
}
