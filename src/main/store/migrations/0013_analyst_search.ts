import { sql, type Kysely } from 'kysely'

/**
 * What the analyst's searches and the case view need from the store.
 *
 * Prefix search on user and counterparty ("C3000000" finds C3000000017): `LIKE 'prefix%'` can use a btree
 * only when the column's collation is C, and PostgreSQL 15 treats neither en_US.UTF-8 nor C.UTF-8 as C.
 * The user and counterparty indexes are rebuilt with text_pattern_ops, which answers both `=` and a
 * prefix LIKE in any collation, so the ingest path keeps the same number of indexes. Cases get one for
 * the queue's search.
 *
 * Related cases: `aether_related_cases(case)` finds the cases on the other side of a money trail, a
 * TRANSFER of an amount to an account that then cashes out the same amount (the victim's case and the
 * mule's). It runs with the caller's rights, so an analyst sees only cases they may see. The case's
 * assignee may block the other side's account when closing as fraud: `aether_block_from_case` accepts
 * the user of a related case as well as the case's own.
 *
 * Each statement is a string of its own: PGlite takes one statement per query.
 */

const SAFE_PATH = 'SET search_path = pg_catalog, public, pg_temp'

const INDEXES = [
  ['transactions_user_ts', 'transactions', 'user_id'],
  ['transactions_counterparty_ts', 'transactions', 'counterparty_id'],
  ['alerts_user', 'alerts', 'user_id'],
] as const

const blockFromCase = (involvedUser: string) => `CREATE OR REPLACE FUNCTION aether_block_from_case(
     p_case_id bigint, p_kind text, p_value text, p_reason text, p_expires_at timestamptz DEFAULT NULL
   ) RETURNS bigint
   LANGUAGE plpgsql SECURITY DEFINER ${SAFE_PATH} AS $$
   DECLARE
     subject public.cases;
     involved boolean;
     entry bigint;
   BEGIN
     SELECT * INTO subject FROM public.cases WHERE id = p_case_id;
     IF NOT FOUND THEN
       RAISE EXCEPTION 'There is no case %', p_case_id USING ERRCODE = 'no_data_found';
     END IF;
     IF NOT (pg_has_role(session_user, public.aether_team_role('supervisor'), 'USAGE')
             OR subject.assignee_id = public.aether_current_analyst_id()) THEN
       RAISE EXCEPTION 'Only the case''s assignee or a supervisor may block from case %', p_case_id
         USING ERRCODE = 'insufficient_privilege';
     END IF;
     IF subject.outcome IS DISTINCT FROM 'fraud_confirmed' THEN
       RAISE EXCEPTION 'Only a case closed as fraud can add to a blocklist' USING ERRCODE = 'check_violation';
     END IF;
     involved := CASE p_kind
       WHEN 'user' THEN ${involvedUser}
       WHEN 'counterparty' THEN EXISTS (SELECT 1 FROM public.alerts a JOIN public.transactions t USING (txn_id)
                                         WHERE a.case_id = p_case_id AND t.counterparty_id = p_value)
       WHEN 'ip' THEN EXISTS (SELECT 1 FROM public.alerts a JOIN public.transactions t USING (txn_id)
                               WHERE a.case_id = p_case_id AND host(t.source_ip) = p_value)
       WHEN 'device' THEN EXISTS (SELECT 1 FROM public.alerts a JOIN public.transactions t USING (txn_id)
                                   WHERE a.case_id = p_case_id AND t.device_id = p_value)
       ELSE false
     END;
     IF NOT involved THEN
       RAISE EXCEPTION '% "%" is not part of case %', p_kind, p_value, p_case_id
         USING ERRCODE = 'insufficient_privilege';
     END IF;
     INSERT INTO public.lists (kind, value, network, reason, expires_at)
     VALUES (p_kind, p_value, CASE WHEN p_kind = 'ip' THEN p_value::inet::cidr END, left(p_reason, 500), p_expires_at)
     ON CONFLICT (kind, value) DO UPDATE SET reason = excluded.reason, expires_at = excluded.expires_at
     RETURNING id INTO entry;
     RETURN entry;
   END
   $$`

/** The function as this migration leaves it (0019 derives its own from it). */
export const BLOCK_FROM_CASE = blockFromCase(
  `subject.user_id = p_value
                     OR EXISTS (SELECT 1 FROM public.aether_related_cases(p_case_id) r WHERE r.user_id = p_value)`,
)

const statements = [
  ...INDEXES.flatMap(([name, table, column]) => [
    `DROP INDEX ${name}`,
    `CREATE INDEX ${name} ON ${table} (${column} text_pattern_ops, ts DESC)`,
  ]),
  `CREATE INDEX cases_user ON cases (user_id text_pattern_ops)`,
  // Both directions: from the transfer's case to the cash-out's, and back.
  `CREATE FUNCTION aether_related_cases(p_case_id bigint)
   RETURNS TABLE (case_id bigint, user_id text, amount numeric, link text)
   LANGUAGE sql STABLE ${SAFE_PATH} AS $$
     SELECT a2.case_id, t2.user_id, t1.amount, 'cashed out what this case transferred'
       FROM public.alerts a1
       JOIN public.transactions t1 ON t1.txn_id = a1.txn_id AND t1.type = 'TRANSFER'
       JOIN public.transactions t2 ON t2.user_id = t1.counterparty_id AND t2.type = 'CASH_OUT'
                                  AND t2.amount = t1.amount AND t2.ts >= t1.ts
       JOIN public.alerts a2 ON a2.txn_id = t2.txn_id
      WHERE a1.case_id = p_case_id AND a2.case_id IS NOT NULL AND a2.case_id <> p_case_id
     UNION
     SELECT a1.case_id, t1.user_id, t2.amount, 'transferred what this case cashed out'
       FROM public.alerts a2
       JOIN public.transactions t2 ON t2.txn_id = a2.txn_id AND t2.type = 'CASH_OUT'
       JOIN public.transactions t1 ON t1.counterparty_id = t2.user_id AND t1.type = 'TRANSFER'
                                  AND t1.amount = t2.amount AND t1.ts <= t2.ts
       JOIN public.alerts a1 ON a1.txn_id = t1.txn_id
      WHERE a2.case_id = p_case_id AND a1.case_id IS NOT NULL AND a1.case_id <> p_case_id
   $$`,
  `REVOKE ALL ON FUNCTION aether_related_cases(bigint) FROM PUBLIC`,
  `DO $$
  BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION aether_related_cases(bigint) TO %I', aether_team_role('analyst'));
  END
  $$`,
  BLOCK_FROM_CASE,
]

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    blockFromCase('subject.user_id = p_value'),
    'DROP FUNCTION aether_related_cases(bigint)',
    'DROP INDEX cases_user',
    ...INDEXES.flatMap(([name, table, column]) => [
      `DROP INDEX ${name}`,
      `CREATE INDEX ${name} ON ${table} (${column}, ts DESC)`,
    ]),
  ])
    await sql.raw(statement).execute(db)
}
