import { useSyncExternalStore } from 'react'
import type { Dataset, ImportEvent } from '../../../../shared/datasets-contract'
import { client } from '../../api/client'
import { followRun } from '../../api/run'

/**
 * The import under way, kept outside any component: the analyst may leave the Datasets page while a large
 * file imports and find its progress on return. One import at a time from this window.
 */

export type ImportState =
  | { status: 'idle' }
  | {
      status: 'running'
      name: string
      importId: string | null
      sourceBytes: number
      progress: Extract<ImportEvent, { type: 'progress' }> | null
    }
  | {
      status: 'done'
      dataset: Dataset
      reused: boolean
      /** The last progress seen, kept as the import's summary. */
      progress: Extract<ImportEvent, { type: 'progress' }> | null
      seconds: number
    }
  | { status: 'changed'; path: string; dataset: Dataset; sourceBytes: number; sourceModifiedAt: string }
  | { status: 'cancelled'; name: string }
  | { status: 'failed'; name: string; message: string }

let state: ImportState = { status: 'idle' }
const listeners = new Set<() => void>()
const readyListeners = new Set<(dataset: Dataset) => void>()

function set(next: ImportState) {
  state = next
  for (const listener of listeners) listener()
}

export function useImportState(): ImportState {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    () => state,
  )
}

/** Called with each dataset an open makes ready (so the page can show it). */
export function onDatasetReady(listener: (dataset: Dataset) => void): () => void {
  readyListeners.add(listener)
  return () => readyListeners.delete(listener)
}

export type OpenSource = { kind: 'path'; path: string; reimport?: boolean } | { kind: 'sample' }

export async function openDataset(source: OpenSource): Promise<void> {
  if (state.status === 'running') return
  let name = source.kind === 'sample' ? 'the bundled sample' : source.path
  let importId: string | null = null
  let sourceBytes = 0
  set({ status: 'running', name, importId, sourceBytes, progress: null })
  const started = performance.now()
  let progress: Extract<ImportEvent, { type: 'progress' }> | null = null
  await followRun(
    () =>
      source.kind === 'sample'
        ? client.datasets.openSample()
        : client.datasets.open({ path: source.path, ...(source.reimport ? { reimport: true } : {}) }),
    (event) => {
      if (event.type === 'started') {
        ;({ name, importId, sourceBytes } = event)
        set({ status: 'running', name, importId, sourceBytes, progress })
      } else if (event.type === 'progress') {
        progress = event
        set({ status: 'running', name, importId, sourceBytes, progress })
      } else if (event.type === 'ready') {
        set({
          status: 'done',
          dataset: event.dataset,
          reused: event.reused,
          progress,
          seconds: (performance.now() - started) / 1000,
        })
        for (const listener of readyListeners) listener(event.dataset)
      } else if (event.type === 'changed')
        set({
          status: 'changed',
          path: event.dataset.sourcePath,
          dataset: event.dataset,
          sourceBytes: event.sourceBytes,
          sourceModifiedAt: event.sourceModifiedAt,
        })
      else if (event.type === 'cancelled') set({ status: 'cancelled', name })
      else set({ status: 'failed', name, message: event.message })
    },
    (message) => set({ status: 'failed', name, message }),
  )
}

export async function cancelImport(): Promise<void> {
  if (state.status !== 'running' || state.importId === null) return
  await client.datasets.cancelImport({ importId: state.importId })
}

export function dismissImport(): void {
  if (state.status !== 'running') set({ status: 'idle' })
}
