import { defineConfig } from 'vitest/config'

/**
 * unit: pure logic next to the code (src/**\/*.test.ts).
 * integration: real PostgreSQL, Redis, DuckDB and keychain (test/integration); each run uses its own
 * database and key prefix and removes them. A missing service fails the run: it is never a skip.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'security',
          include: ['test/security/**/*.test.ts'],
          environment: 'node',
          // ledger.ts prints the one summary line (attempts, refused, allowed) after the run.
          globalSetup: ['test/global-setup.ts', 'test/security/ledger.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
