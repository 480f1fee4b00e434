import type { DuckDBConnection } from '@duckdb/node-api'
import type { Rule, RuleSet, VelocityWindow } from '../../shared/rules'
import type { Transaction } from '../../shared/transaction'
import { MEMORY, WINDOW_MS } from '../scoring/features'
import { activeListEntries, ipRanges, type ListEntry } from '../scoring/lists'
import { LIMIT_SPECIFICITY } from '../scoring/score'

/**
 * Compiles a RuleSet to one DuckDB query that scores every row of a table exactly as the streaming
 * scorer (src/main/scoring) scores the same rows fed in `seq` order; test/integration/scoring-equivalence
 * proves it row by row.
 *
 * The table holds valid transactions: the Transaction columns (ts TIMESTAMP or TIMESTAMPTZ, money
 * DECIMAL(18,2), see transactionsTableSql) and `seq`, the source order. The scorer's semantics in SQL:
 * - Order: each user's rows by seq. Event time is clamped to the user's running maximum (a late row is
 *   scored at the latest time seen), as the scorer does; so ordering by (clamped ts, seq) is ordering by
 *   seq, and rows with equal ts count as earlier exactly when their seq is smaller.
 * - Velocity: the earlier rows with clamped ts in (t - window, t], in ms, are the rows just before this
 *   one. Their number is row_number minus the smallest row_number in a RANGE frame, and their sum a
 *   difference of running sums (the smallest running sum in the frame is the first row's, amounts being
 *   positive). Both are capped like the scorer's memory (MEMORY.recentTransactions).
 * - Z-score: avg and stddev_samp over the earlier rows; compared as doubles, as the scorer's Welford
 *   running values are, so a z-score equal to the threshold within a rounding error could fall either way.
 * - New counterparty / device / IP: the scorer remembers them for the user's last MEMORY.recentValues
 *   transactions; here, the previous row with the same value is fewer than that many rows back.
 * - Blocklists: entries (and their expiry at `now`) as the scorer's ListMatcher takes them, inlined as
 *   literals; IP networks are ranges of the same hex keys the scorer uses (IPv4 and IPv6, no inet
 *   extension needed).
 * Each distinct window ordering is one sort of the table, so only the features the enabled rules need
 * are computed, and only for users with more than one row.
 *
 * Result columns: txn_id, seq, label, score, decision, fired (ids of the rules that fired, in rule order),
 * __fired_<i> (whether the i-th enabled rule fired: cheaper to count than the list), and the carried columns.
 *
 * Most PaySim users pay once and skip every window. They are told apart by sorting 64-bit hashes of
 * user_id (twice as fast as grouping millions of strings; hashed before the window, so it keeps only
 * the hashes: half the memory); a collision can only send a single-row user
 * down the exact path, which changes no score.
 */

export interface RulesSqlOptions {
  lists?: readonly ListEntry[]
  /** Lists entries that expired at or before this moment do not apply (default: now). */
  now?: Date
  /** Columns of the table carried through to the result as they are (e.g. amount, ts for a backtest). */
  carry?: readonly string[]
  /**
   * The `fired` list of rule ids (default true). A backtest counts with __fired_<i> and skips the list,
   * which costs more than scoring itself over millions of rows.
   */
  firedList?: boolean
  /**
   * Columns the caller knows are NULL on every row (PaySim has no IP or device): the features only they
   * feed are not computed, a sort of the table each; the rules on them cannot fire, as in the scorer.
   */
  nullColumns?: readonly ('source_ip' | 'device_id')[]
  /**
   * The ENUM type the table's `type` column has, if it is one (an imported PaySim dataset's): rules then
   * compare it with values of that type, small integers, where text would cast every row's type to text.
   */
  typeEnum?: string
  /**
   * A table whose `user_id` column lists every user with more than one row of `table` (it may list
   * others too): found once for a dataset that never changes, where telling them apart costs a sort of
   * every row's user.
   */
  repeatUsers?: string
}

const WINDOWS: readonly VelocityWindow[] = ['1m', '1h', '24h']

function quoteIdentifier(table: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(table))
    throw new Error(`"${table}" is not a table name (letters, digits and _, optionally schema.table)`)
  return table
    .split('.')
    .map((part) => `"${part}"`)
    .join('.')
}

const literal = (value: string) => `'${value.replaceAll("'", "''")}'`
const decimal = (money: string) => `CAST(${literal(money)} AS DECIMAL(18, 2))`
const inList = (values: readonly string[]) => values.map(literal).join(', ')

/** The scorer's ipKey (scoring/lists.ts) in DuckDB SQL: '4' + 8 hex digits, '6' + 32, or NULL. */
export function ipKeySql(column: string): string {
  const octetsOk = (source: string, pattern: string, from: number) =>
    [0, 1, 2, 3]
      .map((i) => `CAST(regexp_extract(${source}, '${pattern}', ${from + i}) AS INTEGER) <= 255`)
      .join(' AND ')
  const octet = (source: string, pattern: string, group: number) =>
    `CAST(regexp_extract(${source}, '${pattern}', ${group}) AS INTEGER)`
  const v4 = '^(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})$'
  const tail = '^(.*:)(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})$'
  const hextet = "'[0-9a-f]{1,4}'"
  const allHextets = (list: string) =>
    `len(list_filter(${list}, lambda x: NOT regexp_full_match(x, ${hextet}))) = 0`
  const joined = (list: string) =>
    `'6' || array_to_string(list_transform(${list}, lambda x: lpad(x, 4, '0')), '')`
  const groups = (part: string) =>
    `CASE WHEN ${part} = '' THEN CAST([] AS VARCHAR[]) ELSE string_split(${part}, ':') END`
  const undotted = `CASE
      WHEN NOT contains(s, '.') THEN s
      WHEN regexp_full_match(s, '${tail}') AND ${octetsOk('s', tail, 2)}
        THEN regexp_extract(s, '${tail}', 1) || printf('%x:%x', ${octet('s', tail, 2)} * 256 + ${octet('s', tail, 3)}, ${octet('s', tail, 4)} * 256 + ${octet('s', tail, 5)})
    END`
  const expanded = `CASE
      WHEN t IS NULL THEN NULL
      WHEN NOT contains(t, '::') THEN list_transform([string_split(t, ':')], lambda g:
        CASE WHEN len(g) = 8 AND ${allHextets('g')} THEN ${joined('g')} END)[1]
      WHEN (length(t) - length(replace(t, '::', ''))) / 2 > 1 THEN NULL
      ELSE list_transform([[${groups("split_part(t, '::', 1)")}, ${groups("split_part(t, '::', 2)")}]], lambda p:
        CASE WHEN len(p[1]) + len(p[2]) <= 7 AND ${allHextets('p[1] || p[2]')}
          THEN ${joined("p[1] || repeat(['0'], 8 - len(p[1]) - len(p[2])) || p[2]")} END)[1]
    END`
  return `CASE
  WHEN ${column} IS NULL THEN NULL
  WHEN regexp_full_match(${column}, '${v4}') THEN CASE WHEN ${octetsOk(column, v4, 1)}
    THEN '4' || printf('%02x%02x%02x%02x', ${[1, 2, 3, 4].map((group) => octet(column, v4, group)).join(', ')}) END
  ELSE list_transform([lower(${column})], lambda s:
    CASE WHEN NOT contains(s, ':') OR NOT regexp_full_match(s, '[0-9a-f:.]+') THEN NULL
    ELSE list_transform([${undotted}], lambda t: ${expanded})[1] END)[1]
END`
}

/** Which feature columns the enabled rules need. */
interface Needs {
  windows: Set<VelocityWindow>
  zscore: boolean
  counterparty: boolean
  device: boolean
  ip: boolean
  ipBlocklist: boolean
}

function needsOf(rules: readonly Rule[], absent: ReadonlySet<string>): Needs {
  const needs: Needs = {
    windows: new Set(),
    zscore: false,
    counterparty: false,
    device: false,
    ip: false,
    ipBlocklist: false,
  }
  for (const rule of rules) {
    if (rule.kind === 'velocity') needs.windows.add(rule.window)
    else if (rule.kind === 'amount_zscore') needs.zscore = true
    else if (rule.kind === 'new_counterparty') needs.counterparty = true
    else if (rule.kind === 'new_device_or_ip') {
      if (rule.signals.includes('device') && !absent.has('device_id')) needs.device = true
      if (rule.signals.includes('ip') && !absent.has('source_ip')) needs.ip = true
    } else if (rule.kind === 'blocklist' && rule.lists.includes('ip') && !absent.has('source_ip'))
      needs.ipBlocklist = true
  }
  return needs
}

function conditionSql(
  rule: Rule,
  lists: { values: Record<'user' | 'counterparty' | 'device', string[]>; ip: boolean },
  absent: ReadonlySet<string>,
  typeEnum: string | undefined,
) {
  const typeLiteral = (value: string) =>
    typeEnum === undefined ? literal(value) : `CAST(${literal(value)} AS ${quoteIdentifier(typeEnum)})`
  const typeIn = (values: readonly string[]) => `type IN (${values.map(typeLiteral).join(', ')})`
  switch (rule.kind) {
    case 'high_value': {
      const arms: string[] = []
      for (const [byType, byCurrency] of LIMIT_SPECIFICITY)
        for (const limit of rule.limits) {
          if ((limit.type !== undefined) !== byType || (limit.currency !== undefined) !== byCurrency) continue
          const when = [
            limit.type === undefined ? undefined : `type = ${typeLiteral(limit.type)}`,
            limit.currency === undefined ? undefined : `currency = ${literal(limit.currency)}`,
          ].filter((part) => part !== undefined)
          arms.push(`WHEN ${when.length ? when.join(' AND ') : 'true'} THEN ${decimal(limit.max_amount)}`)
        }
      return `amount > CASE ${arms.join(' ')} END`
    }
    case 'velocity': {
      const parts: string[] = []
      if (rule.max_count !== undefined) parts.push(`__count_${rule.window} + 1 > ${rule.max_count}`)
      if (rule.max_sum !== undefined)
        parts.push(
          `(__count_${rule.window} > 0 AND __sum_${rule.window} + amount > ${decimal(rule.max_sum)})`,
        )
      return parts.join(' OR ')
    }
    case 'blocklist': {
      const parts = rule.lists.map((kind) => {
        if (kind === 'ip') return lists.ip ? 'source_ip IN (SELECT ip FROM __ip_hits)' : 'false'
        const column = kind === 'user' ? 'user_id' : kind === 'counterparty' ? 'counterparty_id' : 'device_id'
        const values = lists.values[kind]
        return values.length ? `${column} IN (${inList(values)})` : 'false'
      })
      return parts.join(' OR ')
    }
    case 'amount_zscore':
      return `__history >= ${rule.min_history} AND (CAST(amount AS DOUBLE) - __mean) / greatest(__stddev, ${Number(rule.min_stddev)}) > ${rule.threshold}`
    case 'new_counterparty':
      return `__history >= ${rule.min_history} AND NOT __known_counterparty AND amount >= ${decimal(rule.min_amount)}`
    case 'new_device_or_ip': {
      const parts = rule.signals
        .filter((signal) => !absent.has(signal === 'device' ? 'device_id' : 'source_ip'))
        .map((signal) =>
          signal === 'device'
            ? '(device_id IS NOT NULL AND NOT __known_device)'
            : '(source_ip IS NOT NULL AND NOT __known_ip)',
        )
      return parts.length === 0 ? 'false' : `__history >= ${rule.min_history} AND (${parts.join(' OR ')})`
    }
    case 'balance_drain':
      return `${typeIn(rule.types)} AND amount = balance_before AND balance_after = 0`
    case 'balance_inconsistency':
      return rule.side === 'origin'
        ? `${typeIn(rule.types)} AND abs(balance_before - amount - balance_after) > ${decimal(rule.tolerance)}`
        : `${typeIn(rule.types)} AND abs(cp_balance_after - cp_balance_before) <= ${decimal(rule.tolerance)}`
  }
}

export function compileRuleSetToSql(rules: RuleSet, table: string, options: RulesSqlOptions = {}): string {
  const source = quoteIdentifier(table)
  const enabled = rules.rules.filter((rule) => rule.enabled)
  const absent = new Set<string>(options.nullColumns ?? [])
  const needs = needsOf(enabled, absent)
  const active = activeListEntries(options.lists ?? [], options.now)
  const ranges = ipRanges(active)
  const lists = {
    values: {
      user: active.filter((entry) => entry.kind === 'user').map((entry) => entry.value),
      counterparty: active.filter((entry) => entry.kind === 'counterparty').map((entry) => entry.value),
      device: active.filter((entry) => entry.kind === 'device').map((entry) => entry.value),
    },
    ip: ranges.length > 0 && !absent.has('source_ip'),
  }
  const carried = (options.carry ?? []).map((column) => `, ${quoteIdentifier(column)}`).join('')
  const windows = WINDOWS.filter((window) => needs.windows.has(window))
  const cap = MEMORY.recentTransactions
  const columns = (items: readonly string[]) => items.map((item) => `,\n    ${item}`).join('')

  // One sort: each user's rows in seq order.
  const bySeq = [
    'row_number() OVER __user AS __rn',
    'max(epoch_ms(ts)) OVER (__user ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS __t',
    ...(windows.length
      ? [
          'sum(amount) OVER (__user ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - amount AS __sum_before',
          `coalesce(sum(amount) OVER (__user ROWS BETWEEN ${cap} PRECEDING AND 1 PRECEDING), 0) AS __sum_recent`,
        ]
      : []),
    ...(needs.zscore
      ? [
          'avg(amount) OVER (__user ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS __mean',
          'stddev_samp(CAST(amount AS DOUBLE)) OVER (__user ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS __stddev',
        ]
      : []),
  ]
  // One more sort for all windows: each user's rows by clamped event time.
  const byTime = windows.flatMap((window) => {
    const frame = `(PARTITION BY user_id ORDER BY __t RANGE BETWEEN ${WINDOW_MS[window] - 1} PRECEDING AND CURRENT ROW)`
    return [
      `min(__rn) OVER ${frame} AS __first_${window}`,
      `min(__sum_before) OVER ${frame} AS __floor_${window}`,
    ]
  })
  // And one sort per remembered kind of value.
  const previous = (
    [
      ['counterparty', 'counterparty_id', needs.counterparty],
      ['device', 'device_id', needs.device],
      ['ip', 'source_ip', needs.ip],
    ] as const
  )
    .filter(([, , needed]) => needed)
    .map(
      ([name, column]) =>
        `coalesce(__rn - lag(__rn) OVER (PARTITION BY user_id, ${column} ORDER BY __rn) <= ${MEMORY.recentValues}, false) AS __known_${name}`,
    )
  const features = [
    '__rn - 1 AS __history',
    ...windows.flatMap((window) => [
      `least(__rn - __first_${window}, ${cap}) AS __count_${window}`,
      `CASE WHEN __rn - __first_${window} > ${cap} THEN __sum_recent ELSE __sum_before - __floor_${window} END AS __sum_${window}`,
    ]),
  ]

  // A user's only transaction has no history: most PaySim accounts pay once, and skip every sort.
  const firstOfUser = [
    '0 AS __history',
    ...windows.flatMap((window) => [`0 AS __count_${window}`, `0 AS __sum_${window}`]),
    ...previous.map((column) => `false AS ${column.slice(column.lastIndexOf(' AS ') + 4)}`),
  ]

  const fired = enabled.map(
    (rule, index) =>
      `coalesce(${conditionSql(rule, lists, absent, options.typeEnum)}, false) AS __fired_${index}`,
  )
  const points = enabled.length
    ? enabled.map((rule, index) => `CASE WHEN __fired_${index} THEN ${rule.weight} ELSE 0 END`).join(' + ')
    : '0'
  const blockers = enabled
    .map((rule, index) => (rule.kind === 'blocklist' ? `__fired_${index}` : undefined))
    .filter((part) => part !== undefined)
  const firedIds = enabled.map((rule, index) => `CASE WHEN __fired_${index} THEN ${literal(rule.id)} END`)
  const firedList =
    options.firedList === false
      ? ''
      : `${firedIds.length ? `list_filter([${firedIds.join(', ')}], lambda rule_id: rule_id IS NOT NULL)` : 'CAST([] AS VARCHAR[])'} AS fired`

  const repeatUsers =
    options.repeatUsers === undefined
      ? {
          cte: `__repeat_users AS MATERIALIZED (
  SELECT DISTINCT __user_hash FROM (
    SELECT __user_hash, lag(__user_hash) OVER (ORDER BY __user_hash) AS __previous_hash
    FROM (SELECT hash(user_id) AS __user_hash FROM ${source} WHERE user_id IS NOT NULL)
  ) WHERE __user_hash = __previous_hash
),`,
          test: 'hash(user_id)',
          column: '__user_hash',
        }
      : {
          cte: `__repeat_users AS (SELECT user_id FROM ${quoteIdentifier(options.repeatUsers)}),`,
          test: 'user_id',
          column: 'user_id',
        }

  // Addresses are keyed once each, not once per row: a table has far fewer addresses than rows.
  const ipHits = `
__ip_ranges(lo, hi) AS (VALUES ${ranges.map((range) => `(${literal(range.lo)}, ${literal(range.hi)})`).join(', ')}),
__ip_hits AS (
  SELECT ip FROM (SELECT DISTINCT source_ip AS ip FROM ${source} WHERE source_ip IS NOT NULL)
  WHERE EXISTS (SELECT 1 FROM __ip_ranges r WHERE ${ipKeySql('ip')} BETWEEN r.lo AND r.hi)
),`

  return `WITH${needs.ipBlocklist && lists.ip ? ipHits : ''}
${repeatUsers.cte}
__by_seq AS (
  SELECT *${columns(bySeq)}
  FROM ${source}
  WHERE user_id IS NOT NULL AND ${repeatUsers.test} IN (SELECT ${repeatUsers.column} FROM __repeat_users)
  WINDOW __user AS (PARTITION BY user_id ORDER BY seq)
),
__by_time AS (
  SELECT *${columns([...byTime, ...previous])}
  FROM __by_seq
),
__features AS (
  SELECT *${columns(features)}
  FROM __by_time
  UNION ALL BY NAME
  SELECT *${columns(firstOfUser)}
  FROM ${source}
  WHERE user_id IS NOT NULL AND ${repeatUsers.test} NOT IN (SELECT ${repeatUsers.column} FROM __repeat_users)
),
__fired AS (
  SELECT txn_id, seq, label${carried}${columns(fired)}
  FROM __features
),
__scored AS (
  SELECT *, CAST(least(100, ${points}) AS INTEGER) AS score, ${blockers.length ? blockers.join(' OR ') : 'false'} AS __blocked
  FROM __fired
)
SELECT txn_id, seq, label${carried}, score,
  CASE WHEN __blocked OR score >= ${rules.thresholds.block} THEN 'block'
    WHEN score >= ${rules.thresholds.review} THEN 'review' ELSE 'approve' END AS decision
  ${firedList ? `, ${firedList}` : ''}${enabled.map((_, index) => `, __fired_${index}`).join('')}
FROM __scored`
}

/** The Transaction columns with the types the compiled SQL expects, plus seq. */
const TRANSACTION_COLUMNS = [
  ['txn_id', 'UUID'],
  ['ts', 'TIMESTAMPTZ'],
  ['user_id', 'VARCHAR'],
  ['counterparty_id', 'VARCHAR'],
  ['type', 'VARCHAR'],
  ['amount', 'DECIMAL(18, 2)'],
  ['currency', 'VARCHAR'],
  ['merchant_type', 'VARCHAR'],
  ['source_ip', 'VARCHAR'],
  ['device_id', 'VARCHAR'],
  ['balance_before', 'DECIMAL(18, 2)'],
  ['balance_after', 'DECIMAL(18, 2)'],
  ['cp_balance_before', 'DECIMAL(18, 2)'],
  ['cp_balance_after', 'DECIMAL(18, 2)'],
  ['label', 'BOOLEAN'],
] as const satisfies readonly (readonly [keyof Transaction, string])[]

/** DDL of a table compileRuleSetToSql can score. */
export function transactionsTableSql(table: string): string {
  return `CREATE TABLE ${quoteIdentifier(table)} (${[...TRANSACTION_COLUMNS, ['seq', 'BIGINT']]
    .map(([name, type]) => `${name} ${type}`)
    .join(', ')})`
}

/**
 * Appends transactions to a table made by transactionsTableSql, numbering seq from `firstSeq` in the
 * order given. Values go in as text through a staging table and are cast by DuckDB, so money stays exact.
 */
export async function appendTransactions(
  connection: DuckDBConnection,
  table: string,
  transactions: Iterable<Transaction>,
  firstSeq = 1,
): Promise<number> {
  const target = quoteIdentifier(table)
  await connection.run(
    `CREATE OR REPLACE TEMP TABLE __transactions_staging (${TRANSACTION_COLUMNS.map(([name]) => `${name} VARCHAR`).join(', ')}, seq BIGINT)`,
  )
  const appender = await connection.createAppender('__transactions_staging', 'main', 'temp')
  let seq = firstSeq
  for (const transaction of transactions) {
    for (const [name] of TRANSACTION_COLUMNS) {
      const value = transaction[name]
      if (value === undefined) appender.appendNull()
      else appender.appendVarchar(String(value))
    }
    appender.appendBigInt(BigInt(seq++))
    appender.endRow()
  }
  appender.closeSync()
  await connection.run(
    `INSERT INTO ${target} SELECT ${TRANSACTION_COLUMNS.map(([name, type]) => `CAST(${name} AS ${type})`).join(', ')}, seq FROM temp.__transactions_staging`,
  )
  await connection.run('DROP TABLE temp.__transactions_staging')
  return seq - firstSeq
}
