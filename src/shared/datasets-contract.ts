import { eventIterator } from '@orpc/contract'
import { z } from 'zod'
import { base } from './errors'
import { RuleSet } from './rules'

/**
 * Datasets: offline investigations over local files (PaySim CSV, CSV.gz, Parquet) in DuckDB. Served under
 * `datasets` in the app contract. Column names from the wire are checked against the dataset's own columns
 * before they reach SQL; values always travel as parameters.
 */

const instant = z.iso.datetime({ offset: true })
const count = z.number().int().min(0)
const datasetId = z
  .string()
  .length(16)
  .regex(/^[a-f0-9]{16}$/, 'a dataset id')
/** A column name as DuckDB reports it; checked against the dataset's columns before use. */
const columnName = z.string().min(1).max(256)

export const DATASET_FORMATS = ['csv', 'csv.gz', 'parquet'] as const
export const DatasetFormat = z.enum(DATASET_FORMATS)
export type DatasetFormat = z.infer<typeof DatasetFormat>

/** paysim: recognized by its header and mapped to the transaction shape; table: imported as-is. */
export const DatasetKind = z.enum(['paysim', 'table'])
export type DatasetKind = z.infer<typeof DatasetKind>

export const ColumnInfo = z.object({ name: z.string(), type: z.string() })
export type ColumnInfo = z.infer<typeof ColumnInfo>

/** current: the file is as imported; changed: it differs (size or time), re-import offered; missing: gone. */
export const SourceState = z.enum(['current', 'changed', 'missing'])
export type SourceState = z.infer<typeof SourceState>

export const Dataset = z.object({
  id: datasetId,
  name: z.string(),
  sourcePath: z.string(),
  format: DatasetFormat,
  kind: DatasetKind,
  sourceBytes: count,
  sourceModifiedAt: instant,
  importedAt: instant,
  importMillis: count,
  rowCount: count,
  rejectedLines: count,
  /** Rows labelled fraud, where the dataset has labels. */
  fraudCount: count.nullable(),
  /** What the grid, the analyses and the console's `transactions` view show (the transaction shape for PaySim). */
  columns: z.array(ColumnInfo),
  /** The file's own columns, with the types they were read as. */
  sourceColumns: z.array(ColumnInfo),
  sourceState: SourceState,
})
export type Dataset = z.infer<typeof Dataset>

export const DatasetList = z.object({
  datasets: z.array(Dataset),
  /** Where exports are written. */
  exportsDir: z.string(),
  /** The bundled PaySim sample, where this installation has it. */
  samplePath: z.string().nullable(),
})
export type DatasetList = z.infer<typeof DatasetList>

// ---------------------------------------------------------------------------------------------------------
// Import

export const OpenRequest = z.object({
  path: z.string().trim().min(1).max(4096),
  /** Import again although the file is known: the answer to a `changed` event. */
  reimport: z.boolean().optional(),
})
export type OpenRequest = z.infer<typeof OpenRequest>

export const ImportPhase = z.enum(['reading', 'checking'])
export type ImportPhase = z.infer<typeof ImportPhase>

export const ImportEvent = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('started'),
    importId: z.string(),
    datasetId,
    name: z.string(),
    sourceBytes: count,
  }),
  z.object({
    type: z.literal('progress'),
    phase: ImportPhase,
    percent: z.number().min(0).max(100),
    bytesRead: count,
    /** Rows read so far; an estimate while reading a CSV, exact once the phase is `checking`. */
    rows: count,
    rowsPerSecond: z.number().min(0),
    megabytesPerSecond: z.number().min(0),
    /** Seconds left, once the rate is known. */
    etaSeconds: z.number().min(0).nullable(),
  }),
  /** The dataset is ready; `reused` when a known, unchanged file was opened again (no import). */
  z.object({ type: z.literal('ready'), dataset: Dataset, reused: z.boolean() }),
  /** A known file changed since its import: open it with `reimport` to import it again. */
  z.object({
    type: z.literal('changed'),
    dataset: Dataset,
    sourceBytes: count,
    sourceModifiedAt: instant,
  }),
  z.object({ type: z.literal('cancelled') }),
  z.object({ type: z.literal('failed'), message: z.string() }),
])
export type ImportEvent = z.infer<typeof ImportEvent>

// ---------------------------------------------------------------------------------------------------------
// Data quality

export const RejectedLine = z.object({
  line: count,
  column: z.string().nullable(),
  /** DuckDB's kind of error: CAST, MISSING COLUMNS, UNQUOTED VALUE, ... */
  error: z.string(),
  message: z.string(),
  text: z.string(),
})
export type RejectedLine = z.infer<typeof RejectedLine>

export const ColumnQuality = z.object({
  name: z.string(),
  type: z.string(),
  nulls: count,
  /** Source lines of the first nulls. */
  nullLines: z.array(count),
  /** Values that could not be read as the column's type; those lines were set aside. */
  typeErrors: count,
  typeErrorLines: z.array(count),
  /** Of numbers and times only (null for names and categories). */
  min: z.string().nullable(),
  max: z.string().nullable(),
  /** Distinct values (nulls not counted), never more than the non-null values. */
  distinct: count,
  /** False where `distinct` is an estimate (a large column with many values). */
  distinctExact: z.boolean().default(true),
})
export type ColumnQuality = z.infer<typeof ColumnQuality>

export const BalanceCheck = z.object({
  /** Rows whose balances do not add up by more than a cent. */
  rows: count,
  fraudRows: count,
  lines: z.array(count),
})
export type BalanceCheck = z.infer<typeof BalanceCheck>

export const QualityReport = z.object({
  rowCount: count,
  rejectedLines: count,
  /** The first rejected lines, in file order. */
  rejects: z.array(RejectedLine),
  columns: z.array(ColumnQuality),
  duplicates: z.object({
    /** What makes two rows the same: an id column, or every column. */
    key: z.string(),
    /** Rows that repeat an earlier row's key. */
    extraRows: count,
    lines: z.array(count),
  }),
  paysim: z
    .object({
      fraudRows: count,
      flaggedRows: count,
      stepMin: z.number().int().nullable(),
      stepMax: z.number().int().nullable(),
      nonPositiveAmounts: count,
      /** balance_before - amount ≠ balance_after (CASH_IN: + amount). */
      originBalanceErrors: BalanceCheck,
      /** cp_balance_before + amount ≠ cp_balance_after, for money sent to a customer account (C…). */
      destinationBalanceErrors: BalanceCheck,
    })
    .nullable(),
  millis: count,
})
export type QualityReport = z.infer<typeof QualityReport>

// ---------------------------------------------------------------------------------------------------------
// Grid (AG Grid's infinite row model: sort and filter run in DuckDB, the renderer holds one block at a time)

export const Cell = z.union([z.string(), z.number(), z.boolean(), z.null()])
export type Cell = z.infer<typeof Cell>

/** What the grid shows: the dataset, or the result of a console query over it. */
export const GridSource = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('dataset') }),
  z.object({ kind: z.literal('console'), sql: z.string().min(1).max(100_000) }),
])
export type GridSource = z.infer<typeof GridSource>

export const SortItem = z.object({ colId: columnName, sort: z.enum(['asc', 'desc']) })
export type SortItem = z.infer<typeof SortItem>

export const TEXT_FILTER_TYPES = [
  'equals',
  'notEqual',
  'contains',
  'notContains',
  'startsWith',
  'endsWith',
  'blank',
  'notBlank',
] as const
export const NUMBER_FILTER_TYPES = [
  'equals',
  'notEqual',
  'greaterThan',
  'greaterThanOrEqual',
  'lessThan',
  'lessThanOrEqual',
  'inRange',
  'blank',
  'notBlank',
] as const

const TextCondition = z.object({
  filterType: z.literal('text'),
  type: z.enum(TEXT_FILTER_TYPES),
  filter: z.string().max(1000).nullish(),
})
const NumberCondition = z.object({
  filterType: z.literal('number'),
  type: z.enum(NUMBER_FILTER_TYPES),
  filter: z.number().nullish(),
  filterTo: z.number().nullish(),
})
const DateCondition = z.object({
  filterType: z.literal('date'),
  type: z.enum(NUMBER_FILTER_TYPES),
  /** AG Grid's format: 'YYYY-MM-DD hh:mm:ss' */
  dateFrom: z.string().max(40).nullish(),
  dateTo: z.string().max(40).nullish(),
})
export const FilterCondition = z.union([TextCondition, NumberCondition, DateCondition])
export type FilterCondition = z.infer<typeof FilterCondition>

/** One column's filter as AG Grid sends it: a condition, or two or more joined by AND/OR. */
export const ColumnFilter = z.union([
  FilterCondition,
  z.object({
    filterType: z.enum(['text', 'number', 'date']),
    operator: z.enum(['AND', 'OR']),
    conditions: z.array(FilterCondition).min(1).max(8),
  }),
])
export type ColumnFilter = z.infer<typeof ColumnFilter>

export const FilterModel = z
  .record(columnName, ColumnFilter)
  .refine((filters) => Object.keys(filters).length <= 64, 'filter on at most 64 columns')
export type FilterModel = z.infer<typeof FilterModel>

export const MAX_PAGE_ROWS = 1000

const gridQuery = {
  datasetId,
  source: GridSource,
  sort: z.array(SortItem).max(8).default([]),
  filter: FilterModel.default({}),
}

export const RowsRequest = z
  .object({
    ...gridQuery,
    startRow: count,
    endRow: count,
    /** Ask for the number of matching rows too (the first block of a new sort or filter). */
    withCount: z.boolean().optional(),
  })
  .refine((request) => request.endRow > request.startRow, 'endRow must be after startRow')
  .refine(
    (request) => request.endRow - request.startRow <= MAX_PAGE_ROWS,
    `at most ${MAX_PAGE_ROWS} rows a page`,
  )
export type RowsRequest = z.infer<typeof RowsRequest>

export const RowsPage = z.object({
  rows: z.array(z.record(z.string(), Cell)),
  /** Rows matching the filter, when asked for. */
  rowCount: count.nullable(),
  millis: count,
})
export type RowsPage = z.infer<typeof RowsPage>

export const GroupRequest = z.object({
  ...gridQuery,
  column: columnName,
  limit: z.number().int().min(1).max(1000).default(200),
})
export type GroupRequest = z.infer<typeof GroupRequest>

export const GroupResult = z.object({
  column: z.string(),
  groups: z.array(
    z.object({
      value: Cell,
      rows: count,
      /** Rows labelled fraud in the group, where the dataset has labels. */
      fraud: count.nullable(),
      /** Sum of amount in the group, where the dataset has amounts. */
      amount: z.string().nullable(),
    }),
  ),
  /** Distinct values in all, of which the largest `limit` groups are listed. */
  groupCount: count,
  millis: count,
})
export type GroupResult = z.infer<typeof GroupResult>

// ---------------------------------------------------------------------------------------------------------
// Canned analyses (PaySim datasets)

export const ANALYSES = [
  'fraud-by-type',
  'amount-distribution',
  'volume-by-step',
  'balance-drain',
  'mule-accounts',
  'transfer-cashout-chains',
] as const
export const AnalysisName = z.enum(ANALYSES)
export type AnalysisName = z.infer<typeof AnalysisName>

export const AnalysisResult = z.discriminatedUnion('analysis', [
  z.object({
    analysis: z.literal('fraud-by-type'),
    rows: z.array(z.object({ type: z.string(), transactions: count, fraud: count, rate: z.number() })),
  }),
  z.object({
    analysis: z.literal('amount-distribution'),
    /** Bins a quarter of a decade wide: [lower, upper). */
    bins: z.array(z.object({ lower: z.number(), upper: z.number(), legit: count, fraud: count })),
  }),
  z.object({
    analysis: z.literal('volume-by-step'),
    points: z.array(
      z.object({
        step: z.number().int(),
        ts: z.string(),
        transactions: count,
        fraud: count,
        amount: z.string(),
      }),
    ),
  }),
  z.object({
    analysis: z.literal('balance-drain'),
    /** TRANSFER and CASH_OUT rows split by whether they moved the whole balance of the paying account. */
    rows: z.array(
      z.object({ type: z.string(), emptiesAccount: z.boolean(), transactions: count, fraud: count }),
    ),
  }),
  z.object({
    analysis: z.literal('mule-accounts'),
    rows: z.array(
      z.object({ account: z.string(), fraudReceived: count, fraudAmount: z.string(), received: count }),
    ),
  }),
  z.object({
    analysis: z.literal('transfer-cashout-chains'),
    /** A TRANSFER into an account followed (same step or later) by a CASH_OUT from that account. */
    byAccount: z.object({ chains: count, fraudChains: count }),
    /**
     * A TRANSFER followed in the same step by a CASH_OUT of the same amount: PaySim links a fraud's two
     * halves this way, not by account.
     */
    byAmount: z.object({ chains: count, fraudChains: count }),
    /** The first chains, fraud first. */
    rows: z.array(
      z.object({
        link: z.enum(['account', 'amount']),
        transferSeq: count,
        cashOutSeq: count,
        /** The TRANSFER's recipient, and the CASH_OUT's payer (the same account for an account link). */
        recipient: z.string(),
        cashOutAccount: z.string(),
        transferStep: z.number().int(),
        cashOutStep: z.number().int(),
        amount: z.string(),
        fraud: z.boolean(),
      }),
    ),
  }),
])
export type AnalysisResult = z.infer<typeof AnalysisResult>

export const AnalysisAnswer = z.object({ result: AnalysisResult, millis: count })
export type AnalysisAnswer = z.infer<typeof AnalysisAnswer>

// ---------------------------------------------------------------------------------------------------------
// SQL console (read-only, no file or network access)

export const SqlRequest = z.object({ datasetId, sql: z.string().trim().min(1).max(100_000) })
export type SqlRequest = z.infer<typeof SqlRequest>

export const SqlAnswer = z.discriminatedUnion('outcome', [
  /** A query: its rows page through the grid with source `console`. */
  z.object({ outcome: z.literal('query'), columns: z.array(ColumnInfo), rowCount: count, millis: count }),
  /** Any other statement (EXPLAIN, ...): its first rows, shown as they are. */
  z.object({
    outcome: z.literal('rows'),
    columns: z.array(ColumnInfo),
    rows: z.array(z.record(z.string(), Cell)),
    truncated: z.boolean(),
    millis: count,
  }),
  z.object({
    outcome: z.literal('error'),
    message: z.string(),
    /** 1-based position of the error in the statement, where DuckDB gives one. */
    line: z.number().int().positive().nullable(),
    column: z.number().int().positive().nullable(),
  }),
])
export type SqlAnswer = z.infer<typeof SqlAnswer>

// ---------------------------------------------------------------------------------------------------------
// Long runs (console statements, backtests): progress while they run, and cancel

/** The first event of a run: its id, for cancelRun. */
const RunStarted = z.object({ type: z.literal('started'), runId: z.string() })

/**
 * DuckDB's percent counts the rows its scans have read, not the work done on them: from here on every row
 * is read, a query may still work for long (a join, a sort), and there is no time left to tell.
 */
export const ALL_ROWS_READ_PERCENT = 99.5

/** A few times a second while the run's queries work. */
export const RunProgress = z.object({
  type: z.literal('progress'),
  /** DuckDB's estimate from the rows its scans have read; null while it has none. */
  percent: z.number().min(0).max(100).nullable(),
  /** Rows the run's scans have read so far. */
  rowsRead: count,
  rowsPerSecond: z.number().min(0),
  /** Seconds left, while the percent is known and short of ALL_ROWS_READ_PERCENT. */
  etaSeconds: z.number().min(0).nullable(),
  elapsedSeconds: z.number().min(0),
})
export type RunProgress = z.infer<typeof RunProgress>

/** The run stopped on request; the database is as it was and answers the next query. */
const RunCancelled = z.object({ type: z.literal('cancelled') })

export const SqlEvent = z.discriminatedUnion('type', [
  RunStarted,
  RunProgress,
  RunCancelled,
  z.object({ type: z.literal('answer'), answer: SqlAnswer }),
])
export type SqlEvent = z.infer<typeof SqlEvent>

// ---------------------------------------------------------------------------------------------------------
// Export

export const ExportRequest = z.object({
  ...gridQuery,
  format: z.enum(['csv', 'parquet']),
  /** A file name in the exports folder; the extension follows the format. */
  fileName: z
    .string()
    .trim()
    .max(100)
    .regex(/^[\w][\w .-]{0,99}$/, 'a file name of letters, digits, spaces, dots, dashes and underscores'),
  /** Replace a file of that name: the answer to a CONFLICT saying it exists. */
  overwrite: z.boolean().optional(),
})
export type ExportRequest = z.infer<typeof ExportRequest>

export const ExportResult = z.object({ path: z.string(), rows: count, bytes: count, millis: count })
export type ExportResult = z.infer<typeof ExportResult>

// ---------------------------------------------------------------------------------------------------------
// Rule backtests

export const BacktestRequest = z.object({
  datasetId,
  /** One rule set, or two to compare side by side. */
  ruleSets: z.array(RuleSet).min(1).max(2),
})
export type BacktestRequest = z.infer<typeof BacktestRequest>

export const BacktestResult = z.object({
  rulesVersion: z.number().int(),
  rows: count,
  /** An alert is a review or block decision; a fraud is a row labelled fraud. */
  confusion: z.object({
    truePositives: count,
    falsePositives: count,
    falseNegatives: count,
    trueNegatives: count,
  }),
  precision: z.number().nullable(),
  recall: z.number().nullable(),
  f1: z.number().nullable(),
  decisions: z.object({ approve: count, review: count, block: count }),
  fraudAmountCaught: z.string(),
  fraudAmountMissed: z.string(),
  /** Per hour ("2026-01-01 05:00") when the rows span a few days, per day ("2026-01-01") otherwise; UTC. */
  alertsOverTime: z.object({
    bucket: z.enum(['hour', 'day']),
    points: z.array(z.object({ start: z.string(), alerts: count, fraudCaught: count })),
  }),
  ruleHits: z.array(z.object({ rule: z.string(), fired: count, firedOnFraud: count })),
  millis: count,
})
export type BacktestResult = z.infer<typeof BacktestResult>

export const BacktestEvent = z.discriminatedUnion('type', [
  RunStarted,
  RunProgress,
  RunCancelled,
  z.object({ type: z.literal('results'), results: z.array(BacktestResult) }),
])
export type BacktestEvent = z.infer<typeof BacktestEvent>

export const PublishRequest = z.object({
  ruleSet: RuleSet,
  comment: z.string().trim().max(500).default(''),
  /** The version in force when B was copied; publishing is refused if another was saved since. */
  baseVersion: z.number().int().min(1).optional(),
})
export type PublishRequest = z.infer<typeof PublishRequest>

export const datasetsContract = {
  list: base.output(DatasetList),
  /** Opens a file: instant when it is known and unchanged, else imported in a worker with progress. */
  open: base.input(OpenRequest).output(eventIterator(ImportEvent)),
  /** Opens the bundled PaySim sample. */
  openSample: base.output(eventIterator(ImportEvent)),
  cancelImport: base
    .input(z.object({ importId: z.string().max(64) }))
    .output(z.object({ cancelled: z.boolean() })),
  remove: base.input(z.object({ id: datasetId })).output(DatasetList),
  quality: base.input(z.object({ id: datasetId })).output(QualityReport),
  rows: base.input(RowsRequest).output(RowsPage),
  groups: base.input(GroupRequest).output(GroupResult),
  analysis: base.input(z.object({ datasetId, analysis: AnalysisName })).output(AnalysisAnswer),
  /** Runs a console statement with progress; cancelRun stops it, as does leaving the stream. */
  sql: base.input(SqlRequest).output(eventIterator(SqlEvent)),
  export: base.input(ExportRequest).output(ExportResult),
  /** Scores every row with one or two rule sets, with progress; cancelRun stops it. */
  backtest: base.input(BacktestRequest).output(eventIterator(BacktestEvent)),
  cancelRun: base.input(z.object({ runId: z.string().max(64) })).output(z.object({ cancelled: z.boolean() })),
  /** Saves a rule set as the next version in the active profile's store. */
  publishRules: base.input(PublishRequest).output(z.object({ version: z.number().int().positive() })),
}
