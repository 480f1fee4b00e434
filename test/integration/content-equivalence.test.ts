import { describe, expect, it } from 'vitest'
import { canonicalContent } from '../../src/main/pipeline/transaction-content'
import { query } from '../support/pipeline'
import { SHARED_POSTGRES_URL } from '../support/services'

/**
 * Two versions of one txn_id are the same transaction or a conflict by what their values mean. The
 * gateway's claim and the worker's in-batch check compare in TypeScript, a stored version is compared in
 * PostgreSQL: the two must agree, or a retry is a duplicate on one path and a 409 on another.
 */

const pairs = {
  source_ip: [
    ['2001:db8::7', '2001:0db8:0:0:0:0:0:7'],
    ['2001:db8::7', '2001:DB8::7'],
    ['2001:db8::7', '2001:db8::8'],
    ['::ffff:1.2.3.4', '::ffff:102:304'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::', '0:0:0:0:0:0:0:0'],
    ['1::', '1:0:0:0:0:0:0:0'],
    ['fe80::1:2', 'fe80:0:0:0:0:0:1:2'],
    ['10.0.0.1', '10.0.0.1'],
    ['10.0.0.1', '10.0.0.2'],
  ],
  ts: [
    ['2026-01-01T00:00:00.1231Z', '2026-01-01T00:00:00.1239Z'],
    ['2026-01-01T00:00:00.123Z', '2026-01-01T00:00:00.123000Z'],
    ['2026-01-01T00:00:00.1234564Z', '2026-01-01T00:00:00.123456Z'],
    ['2026-01-01T00:00:00.1234566Z', '2026-01-01T00:00:00.123457Z'],
    ['2026-01-01T00:00:00.9999996Z', '2026-01-01T00:00:01Z'],
    ['2026-01-01T01:00:00+01:00', '2026-01-01T00:00:00Z'],
    ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000001Z'],
  ],
} as const

describe('the same value in TypeScript and in PostgreSQL', () => {
  for (const [field, cast] of [
    ['source_ip', 'inet'],
    ['ts', 'timestamptz'],
  ] as const)
    it(`${field}: equal in one exactly when equal in the other (${cast})`, async () => {
      for (const [a, b] of pairs[field]) {
        const [row] = await query<{ same: boolean }>(
          SHARED_POSTGRES_URL,
          `SELECT $1::${cast} = $2::${cast} AS same`,
          [a, b],
        )
        expect(canonicalContent(field, a) === canonicalContent(field, b), `${a} vs ${b}`).toBe(row?.same)
      }
    })
})
