import { sql, type Kysely } from 'kysely'
import { ALERT_JOINS_CASE } from './0004_triage'

/**
 * A case's amount at risk saturates at the column's largest value instead of overflowing. It summed the
 * amounts of its user's alerts into numeric(18, 2): a user with two alerts of 9e15 (inside the 16 digits
 * a transaction's amount may have) overflowed it, PostgreSQL refused the alert's insert, and so the
 * whole transaction: each later alerting transaction of that user became a dead letter until the case
 * was closed, where the riskiest users are the ones that matter most. The function is 0004's with that
 * one line changed, derived from 0004's text.
 */

const SUM_0004 = 'amount_at_risk = c.amount_at_risk + excluded.amount_at_risk'

/** 0004's function, replaced, with its case total set by `amountAtRisk`. */
export const joinsCase = (amountAtRisk: string) => {
  if (!ALERT_JOINS_CASE.includes(SUM_0004) || !ALERT_JOINS_CASE.includes('CREATE FUNCTION'))
    throw new Error("0018: 0004's aether_alert_joins_case is not the text this migration was written for")
  return ALERT_JOINS_CASE.replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION').replace(
    SUM_0004,
    `amount_at_risk = ${amountAtRisk}`,
  )
}

/** numeric(18, 2)'s largest value. */
export const MAX_AMOUNT_AT_RISK = '9999999999999999.99'

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(joinsCase(`least(c.amount_at_risk + excluded.amount_at_risk, ${MAX_AMOUNT_AT_RISK})`))
    .execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw(joinsCase('c.amount_at_risk + excluded.amount_at_risk')).execute(db)
}
