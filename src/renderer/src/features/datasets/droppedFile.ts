import { isDatasetFileName } from '../../../../shared/desktop-shell'

/** What a drop on the open panel comes to: a path to open, or a sentence saying why not. */
export type DropOutcome = { path: string } | { note: string }

/**
 * The desktop app learns a dropped file's path from its shell; a browser never tells a page where a file
 * lives, so there the path must be typed.
 */
export function droppedFile(
  files: readonly File[],
  pathFor: ((file: File) => string) | undefined,
): DropOutcome {
  const [file] = files
  if (file === undefined) return { note: 'Drop a file: a CSV, CSV.gz or Parquet file.' }
  if (files.length > 1) return { note: 'Drop one file at a time.' }
  if (pathFor === undefined)
    return {
      note: `A browser does not tell the page where ${file.name} is: type its path in the field above.`,
    }
  if (!isDatasetFileName(file.name)) return { note: `${file.name} is not a CSV, CSV.gz or Parquet file.` }
  const path = pathFor(file)
  if (path === '') return { note: `${file.name} is not a file on this computer; save it to a folder first.` }
  return { path }
}
