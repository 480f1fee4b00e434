import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createRouterClient } from '@orpc/server'
import { DatasetCatalog } from '../../src/main/analysis/catalog'
import { DatasetsService } from '../../src/main/analysis/datasets-service'
import { InstancePool } from '../../src/main/analysis/instance-pool'
import { createRouter } from '../../src/main/core/router'
import type {
  BacktestEvent,
  BacktestResult,
  Dataset,
  ImportEvent,
  SqlAnswer,
  SqlEvent,
} from '../../src/shared/datasets-contract'
import { openTestWorkstation, type TestWorkstation } from './workstation'

/**
 * The datasets tests drive the app's own router (contract validation included) over a real workstation
 * on a fresh user-data folder: real DuckDB files, the real import worker thread.
 */

export const SAMPLE_PATH = resolve('resources/paysim-first-20k.csv')

export interface DatasetsHarness {
  opened: TestWorkstation
  client: ReturnType<typeof clientOf>
  dispose(): Promise<void>
}

const clientOf = (opened: TestWorkstation) => createRouterClient(createRouter(opened.workstation))

export async function openDatasetsHarness(): Promise<DatasetsHarness> {
  const opened = await openTestWorkstation()
  return { opened, client: clientOf(opened), dispose: () => opened.dispose() }
}

/** Every event of a stream (an open, a console statement, a backtest), in order. */
export async function collect<E>(events: AsyncIterable<E>): Promise<E[]> {
  const seen: E[] = []
  for await (const event of events) seen.push(event)
  return seen
}

/** The answer a console statement's run ends with. */
export async function sqlAnswer(events: AsyncIterable<SqlEvent>): Promise<SqlAnswer> {
  const last = (await collect(events)).at(-1)
  if (last?.type !== 'answer')
    throw new Error(`The statement did not end with an answer: ${JSON.stringify(last)}`)
  return last.answer
}

/** The results a backtest's run ends with. */
export async function backtestResults(events: AsyncIterable<BacktestEvent>): Promise<BacktestResult[]> {
  const last = (await collect(events)).at(-1)
  if (last?.type !== 'results')
    throw new Error(`The backtest did not end with results: ${JSON.stringify(last)}`)
  return last.results
}

export function readyDataset(events: ImportEvent[]): Dataset {
  const last = events.at(-1)
  if (last?.type !== 'ready') throw new Error(`The open did not end ready: ${JSON.stringify(last)}`)
  return last.dataset
}

/** The id of a dataset opened from a file by the service, once its import is done. */
export async function openedDatasetId(service: DatasetsService, path: string): Promise<string> {
  return readyDataset(await collect(service.open({ path }))).id
}

/**
 * For tests of how the grid reads pages: every file imported twice, by a service that reads pages only
 * by OFFSET (the reference) and into `folder/dir`, whose datasets the grid's own parts open through
 * `instances`. `ids` holds [reference id, id in dir] per file's name.
 */
export async function importTwice<K extends string>(
  folder: string,
  dir: string,
  paths: Record<K, string>,
): Promise<{ byOffset: DatasetsService; instances: InstancePool; ids: Record<K, [string, string]> }> {
  const byOffset = new DatasetsService({
    dir: join(folder, 'offset'),
    samplePath: null,
    keysetFrom: Infinity,
    sortedOrders: false,
  })
  const importer = new DatasetsService({ dir: join(folder, dir), samplePath: null })
  const ids = {} as Record<K, [string, string]>
  for (const [name, path] of Object.entries(paths) as [K, string][])
    ids[name] = [await openedDatasetId(byOffset, path), await openedDatasetId(importer, path)]
  await importer.close()
  const instances = new InstancePool(join(folder, dir), new DatasetCatalog(join(folder, dir)))
  return { byOffset, instances, ids }
}

/** The sample read independently of DuckDB, for expectations. `line` is the 1-based file line. */
export interface SampleRow {
  line: number
  step: number
  type: string
  amount: number
  amountText: string
  nameOrig: string
  oldbalanceOrg: number
  newbalanceOrig: number
  nameDest: string
  isFraud: boolean
}

export function sampleLines(): string[] {
  return readFileSync(SAMPLE_PATH, 'utf8').split('\n')
}

export function sampleRows(): SampleRow[] {
  return sampleLines()
    .slice(1)
    .filter((text) => text.trim() !== '')
    .map((text, index) => {
      const fields = text.split(',')
      const field = (i: number) => fields[i] ?? ''
      return {
        line: index + 2,
        step: Number(field(0)),
        type: field(1),
        amount: Number(field(2)),
        amountText: field(2),
        nameOrig: field(3),
        oldbalanceOrg: Number(field(4)),
        newbalanceOrig: Number(field(5)),
        nameDest: field(6),
        isFraud: field(9) === '1',
      }
    })
}

/** Cents of an amount as the file writes it (2 decimals at most, sometimes 1E+07). */
export const cents = (amount: string) => BigInt(Math.round(Number(amount) * 100))
