import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import {
  ColumnInfo,
  DatasetFormat,
  DatasetKind,
  QualityReport,
  type Dataset,
} from '../../shared/datasets-contract'
import { DatasetNotFoundError } from './errors'

/**
 * The list of imported datasets (catalog.json in the datasets folder): which file each came from, with its
 * size and modification time when imported, so re-opening an unchanged file needs no import.
 */

export const DatasetRecord = z.object({
  id: z.string(),
  name: z.string(),
  sourcePath: z.string(),
  format: DatasetFormat,
  kind: DatasetKind,
  sourceBytes: z.number(),
  sourceModifiedMs: z.number(),
  /** The DuckDB file, in the datasets folder. */
  databaseFile: z.string(),
  datasetKey: z.string(),
  importedAt: z.string(),
  importMillis: z.number(),
  rowCount: z.number(),
  rejectedLines: z.number(),
  fraudCount: z.number().nullable(),
  columns: z.array(ColumnInfo),
  sourceColumns: z.array(ColumnInfo),
  quality: QualityReport,
})
export type DatasetRecord = z.infer<typeof DatasetRecord>

const CatalogFile = z.object({ datasets: z.array(z.unknown()) })

/** One id per file path: opening the same path again finds the same dataset. */
export function datasetIdOf(path: string): string {
  return createHash('sha256').update(resolve(path)).digest('hex').slice(0, 16)
}

/** A dataset as the list shows it, with whether its source file is still as imported. */
export async function describeDataset(record: DatasetRecord): Promise<Dataset> {
  const info = await stat(record.sourcePath).catch(() => undefined)
  const sourceState =
    info === undefined
      ? 'missing'
      : info.size === record.sourceBytes && Math.trunc(info.mtimeMs) === record.sourceModifiedMs
        ? 'current'
        : 'changed'
  return {
    id: record.id,
    name: record.name,
    sourcePath: record.sourcePath,
    format: record.format,
    kind: record.kind,
    sourceBytes: record.sourceBytes,
    sourceModifiedAt: new Date(record.sourceModifiedMs).toISOString(),
    importedAt: record.importedAt,
    importMillis: record.importMillis,
    rowCount: record.rowCount,
    rejectedLines: record.rejectedLines,
    fraudCount: record.fraudCount,
    columns: record.columns,
    sourceColumns: record.sourceColumns,
    sourceState,
  }
}

export class DatasetCatalog {
  private records = new Map<string, DatasetRecord>()
  private writing: Promise<unknown> = Promise.resolve()
  private loading: Promise<void> | undefined
  private readonly file: string

  constructor(private readonly dir: string) {
    this.file = join(dir, 'catalog.json')
  }

  /** The catalog, read once: every part that uses it waits for this first. */
  ready(): Promise<void> {
    this.loading ??= this.load()
    return this.loading
  }

  /** Reads the catalog; an entry that no longer parses is dropped rather than breaking the list. */
  async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const text = await readFile(this.file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '{"datasets":[]}'
      throw error
    })
    const parsed = CatalogFile.safeParse(JSON.parse(text))
    const entries = parsed.success ? parsed.data.datasets : []
    this.records = new Map()
    for (const entry of entries) {
      const record = DatasetRecord.safeParse(entry)
      if (record.success) this.records.set(record.data.id, record.data)
    }
  }

  list(): DatasetRecord[] {
    return [...this.records.values()].sort((a, b) => b.importedAt.localeCompare(a.importedAt))
  }

  get(id: string): DatasetRecord | undefined {
    return this.records.get(id)
  }

  require(id: string): DatasetRecord {
    const record = this.records.get(id)
    if (record === undefined)
      throw new DatasetNotFoundError('This dataset is not in the list; open its file again.')
    return record
  }

  put(record: DatasetRecord): Promise<void> {
    this.records.set(record.id, record)
    return this.save()
  }

  delete(id: string): Promise<void> {
    this.records.delete(id)
    return this.save()
  }

  /** Writes are queued and atomic (write then rename), so a crash never leaves half a catalog. */
  private save(): Promise<void> {
    const snapshot = JSON.stringify({ datasets: [...this.records.values()] }, null, 1)
    const next = this.writing.then(async () => {
      const temporary = `${this.file}.${process.pid}.tmp`
      await writeFile(temporary, snapshot)
      await rename(temporary, this.file)
    })
    this.writing = next.catch(() => {})
    return next
  }
}
