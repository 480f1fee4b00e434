/**
 * What the Electron preload hands the page as `window.aetherShell`, and the one IPC channel behind it. In a
 * browser (the loopback host) there is no shell: the page speaks WebSocket and cannot learn a file's path.
 * Everything else crosses the contract over a MessagePort.
 */
export interface AetherShell<DroppedFile> {
  readonly transport: 'ipc'
  /** The system's file dialog, showing dataset files: the chosen path, or null when it was closed. */
  pickDatasetFile(): Promise<string | null>
  /** Where a file dropped on the page lives on disk; '' for one that is not a file of this computer. */
  pathForDroppedFile(file: DroppedFile): string
}

/** The only channel the preload invokes, answered in the main process for our own page only. */
export const PICK_DATASET_FILE_CHANNEL = 'aether:pick-dataset-file'

/**
 * The file dialog's filters (Electron's FileFilter: extensions without dots). A compressed CSV is offered
 * as `gz`, since the systems' dialogs match the last extension only; the import refuses a .gz that is
 * not a CSV.
 */
export const DATASET_FILE_FILTERS: readonly { name: string; extensions: string[] }[] = [
  { name: 'Datasets (CSV, CSV.gz, Parquet)', extensions: ['csv', 'gz', 'parquet', 'pq'] },
  { name: 'CSV', extensions: ['csv'] },
  { name: 'Compressed CSV', extensions: ['gz'] },
  { name: 'Parquet', extensions: ['parquet', 'pq'] },
]

/** Whether a file name looks like something the datasets can import (the dialog's first filter). */
export function isDatasetFileName(name: string): boolean {
  const lower = name.toLowerCase()
  return DATASET_FILE_FILTERS[0]?.extensions.some((extension) => lower.endsWith(`.${extension}`)) ?? false
}
