import { Redis } from 'ioredis'
import pg from 'pg'
import { SHARED_POSTGRES_URL, SHARED_REDIS_URL } from './support/services'

/** Integration tests need the real services; say precisely which one is missing and fail. */
export default async function checkServices() {
  const problems: string[] = []
  const client = new pg.Client({ connectionString: SHARED_POSTGRES_URL, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
  } catch (error) {
    problems.push(`PostgreSQL at ${SHARED_POSTGRES_URL}: ${(error as Error).message}`)
  } finally {
    await client.end().catch(() => {})
  }
  const redis = new Redis(SHARED_REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  redis.on('error', () => {})
  try {
    await redis.connect()
    await redis.ping()
  } catch (error) {
    problems.push(`Redis at ${SHARED_REDIS_URL}: ${(error as Error).message}`)
  } finally {
    redis.disconnect()
  }
  if (problems.length > 0)
    throw new Error(
      `Integration tests need these services (set AETHER_TEST_POSTGRES_URL / AETHER_TEST_REDIS_URL to point elsewhere):\n  ${problems.join('\n  ')}`,
    )
}
