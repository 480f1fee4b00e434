import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { ReplayCheckpoint } from './producer'

/**
 * Where `aether replay` records how far a run got, so `--resume` continues it: a small JSON file holding,
 * per run key (what is replayed → where to), the last row position up to which every row was confirmed by
 * Redis, the few confirmed rows after it, and whether the run finished. Written atomically (a temporary
 * file renamed over it), so a crash mid-write leaves the previous state.
 */

export interface RunProgress extends ReplayCheckpoint {
  complete: boolean
  updatedAt: string
}

interface ProgressFile {
  aetherReplayProgress: 1
  runs: Record<string, RunProgress>
}

export function readProgress(path: string, key: string): RunProgress | undefined {
  return readAll(path).runs[key]
}

export function writeProgress(path: string, key: string, checkpoint: ReplayCheckpoint, complete: boolean) {
  const all = readAll(path)
  all.runs[key] = {
    through: checkpoint.through,
    confirmedAfter: checkpoint.confirmedAfter,
    complete,
    updatedAt: new Date().toISOString(),
  }
  const temporary = `${path}.${process.pid}.tmp`
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(temporary, `${JSON.stringify(all, null, 1)}\n`)
  renameSync(temporary, path)
}

function readAll(path: string): ProgressFile {
  if (!existsSync(path)) return { aetherReplayProgress: 1, runs: {} }
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new Error(`${path} is not a replay progress file: ${(error as Error).message}`, { cause: error })
  }
  const file = parsed as Partial<ProgressFile> | null
  if (file === null || file.aetherReplayProgress !== 1 || typeof file.runs !== 'object' || file.runs === null)
    throw new Error(`${path} is not a replay progress file (no "aetherReplayProgress": 1).`)
  for (const [key, run] of Object.entries(file.runs)) {
    const valid =
      Number.isSafeInteger(run?.through) &&
      Array.isArray(run?.confirmedAfter) &&
      run.confirmedAfter.every((position) => Number.isSafeInteger(position))
    if (!valid) throw new Error(`${path}: the entry for ${key} is damaged; delete it to start over.`)
  }
  return file as ProgressFile
}
