import type { Kysely } from 'kysely'
import { runScript } from './script'

/**
 * The team schema. One SQL dialect for PostgreSQL and PGlite. Money is numeric(18,2), never a float;
 * event time (ts) is what windows and forecasts use.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE analysts (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      login         text NOT NULL UNIQUE CHECK (login ~ '^[a-z][a-z0-9_.-]{0,62}$'),
      display_name  text NOT NULL,
      role          text NOT NULL CHECK (role IN ('analyst', 'supervisor', 'admin')),
      disabled_at   timestamptz,
      created_at    timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE transactions (
      txn_id             uuid PRIMARY KEY,
      ts                 timestamptz NOT NULL,
      user_id            text NOT NULL,
      counterparty_id    text NOT NULL,
      type               text NOT NULL CHECK (type IN ('PAYMENT', 'TRANSFER', 'CASH_OUT', 'CASH_IN', 'DEBIT')),
      amount             numeric(18, 2) NOT NULL CHECK (amount > 0),
      currency           char(3) NOT NULL,
      merchant_type      text,
      source_ip          inet,
      device_id          text,
      balance_before     numeric(18, 2),
      balance_after      numeric(18, 2),
      cp_balance_before  numeric(18, 2),
      cp_balance_after   numeric(18, 2),
      label              boolean,
      ingested_at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX transactions_ts ON transactions (ts DESC);
    CREATE INDEX transactions_user_ts ON transactions (user_id, ts DESC);
    CREATE INDEX transactions_counterparty_ts ON transactions (counterparty_id, ts DESC);

    CREATE TABLE scores (
      txn_id         uuid PRIMARY KEY REFERENCES transactions (txn_id) ON DELETE CASCADE,
      score          smallint NOT NULL CHECK (score BETWEEN 0 AND 100),
      decision       text NOT NULL CHECK (decision IN ('approve', 'review', 'block')),
      reasons        jsonb NOT NULL DEFAULT '[]',
      model_version  text NOT NULL,
      rules_version  integer NOT NULL,
      scored_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX scores_decision_score ON scores (decision, score DESC);

    CREATE TABLE cases (
      id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      user_id      text NOT NULL,
      status       text NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'in_review', 'escalated', 'closed')),
      outcome      text CHECK (outcome IN ('fraud_confirmed', 'false_positive', 'inconclusive')),
      priority     numeric(12, 2) NOT NULL DEFAULT 0,
      assignee_id  bigint REFERENCES analysts (id),
      due_at       timestamptz,
      version      integer NOT NULL DEFAULT 1,
      opened_at    timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      closed_at    timestamptz,
      CHECK ((status = 'closed') = (outcome IS NOT NULL))
    );
    -- One open case per user: new alerts join it.
    CREATE UNIQUE INDEX cases_one_open_per_user ON cases (user_id) WHERE status <> 'closed';
    CREATE INDEX cases_queue ON cases (status, priority DESC, opened_at);

    CREATE TABLE alerts (
      id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      txn_id      uuid NOT NULL UNIQUE REFERENCES transactions (txn_id) ON DELETE CASCADE,
      case_id     bigint REFERENCES cases (id),
      score       smallint NOT NULL,
      decision    text NOT NULL CHECK (decision IN ('review', 'block')),
      reasons     jsonb NOT NULL DEFAULT '[]',
      created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX alerts_case ON alerts (case_id);
    CREATE INDEX alerts_created ON alerts (created_at DESC);

    -- Append-only audit of every change to a case (who, what, when, before/after).
    CREATE TABLE case_events (
      id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      case_id   bigint NOT NULL REFERENCES cases (id),
      actor     text NOT NULL DEFAULT current_user,
      action    text NOT NULL,
      before    jsonb,
      after     jsonb,
      note      text,
      at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX case_events_case ON case_events (case_id, id);

    -- A rule set is versioned as a whole: each save is a new row, never an update.
    CREATE TABLE rules (
      version     integer PRIMARY KEY CHECK (version > 0),
      definition  jsonb NOT NULL,
      author      text NOT NULL DEFAULT current_user,
      comment     text NOT NULL DEFAULT '',
      created_at  timestamptz NOT NULL DEFAULT now()
    );

    -- Blocklists. An ip entry is a network (a single address is a /32 or /128), so CIDR ranges match.
    CREATE TABLE lists (
      id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      kind        text NOT NULL CHECK (kind IN ('user', 'counterparty', 'ip', 'device')),
      value       text NOT NULL,
      network     cidr,
      reason      text NOT NULL,
      created_by  text NOT NULL DEFAULT current_user,
      created_at  timestamptz NOT NULL DEFAULT now(),
      expires_at  timestamptz,
      CHECK ((kind = 'ip') = (network IS NOT NULL))
    );
    CREATE UNIQUE INDEX lists_kind_value ON lists (kind, value);
    CREATE INDEX lists_network ON lists USING gist (network inet_ops) WHERE network IS NOT NULL;
  `,
  )
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runScript(db, 'DROP TABLE lists, rules, case_events, alerts, cases, scores, transactions, analysts')
}
