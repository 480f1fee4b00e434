import { existsSync } from 'node:fs'
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { DuckDBInstance } from '@duckdb/node-api'
import type { DatasetCatalog, DatasetRecord } from './catalog'
import { openLockedDown, openReadOnly } from './duck'
import { DatasetConflictError, DatasetNotFoundError } from './errors'

/**
 * The DuckDB instances of imported datasets, opened read-only on first use and kept until the dataset is
 * closed (removed, or replaced by a new import of its file); and the database files in the datasets folder.
 */

export interface OpenDataset {
  record: DatasetRecord
  /** Grid, analyses, backtests, exports: our own SQL only. */
  instance: DuckDBInstance
  /** The SQL console: read-only, no files, no network, configuration locked. Opened on first use. */
  console?: Promise<DuckDBInstance>
}

export class InstancePool {
  private readonly opened = new Map<string, Promise<OpenDataset>>()

  constructor(
    private readonly dir: string,
    private readonly catalog: DatasetCatalog,
  ) {}

  async dataset(id: string): Promise<OpenDataset> {
    await this.catalog.ready()
    const record = this.catalog.require(id)
    let opening = this.opened.get(id)
    if (opening === undefined) {
      const path = join(this.dir, record.databaseFile)
      if (!existsSync(path))
        throw new DatasetNotFoundError(`The imported copy of ${record.name} is gone; open the file again.`)
      opening = openReadOnly(path).then((instance) => ({ record, instance }))
      this.opened.set(id, opening)
      opening.catch(() => this.opened.delete(id))
    }
    return opening
  }

  /** A dataset with PaySim's columns; `what` starts the refusal ("The analyses need"). */
  async paysim(id: string, what: string): Promise<OpenDataset> {
    const dataset = await this.dataset(id)
    if (dataset.record.kind !== 'paysim')
      throw new DatasetConflictError(
        `${what} PaySim's columns (step, type, amount, nameOrig, … isFraud); ${dataset.record.name} has other columns.`,
      )
    return dataset
  }

  consoleOf(dataset: OpenDataset): Promise<DuckDBInstance> {
    dataset.console ??= openLockedDown(join(this.dir, dataset.record.databaseFile))
    return dataset.console
  }

  async close(id: string): Promise<void> {
    const opening = this.opened.get(id)
    this.opened.delete(id)
    const dataset = await opening?.catch(() => undefined)
    if (dataset === undefined) return
    dataset.instance.closeSync()
    const console = await dataset.console?.catch(() => undefined)
    console?.closeSync()
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.opened.keys()]) await this.close(id)
  }
}

/** A database file of the datasets folder, with what DuckDB writes beside it. */
export async function removeDatabaseFiles(dir: string, databaseFile: string): Promise<void> {
  const path = join(dir, databaseFile)
  await Promise.all(
    [path, `${path}.wal`, `${path}.tmp`].map((file) => rm(file, { recursive: true, force: true })),
  )
}

/**
 * Earlier imports of the same file, replaced by `keep`. A query still reading one keeps it open (DuckDB
 * closes a database with its last connection); where the system refuses to delete an open file, it is
 * left for the next import of that file to remove.
 */
export async function removeOtherGenerations(dir: string, id: string, keep: string): Promise<void> {
  const files = await readdir(dir)
  const generation = new RegExp(`^${id}-\\d+\\.duckdb$`)
  await Promise.all(
    files
      .filter((file) => generation.test(file) && file !== keep)
      .map((file) => removeDatabaseFiles(dir, file).catch(() => undefined)),
  )
}
