import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import type { AttemptRecord } from './support/attempts'

/**
 * Every forbidden attempt of the suite is appended to one ledger file (test files run in separate
 * workers); after the run this prints the one summary line and fails the run if anything got through.
 * AETHER_SECURITY_VERBOSE=1 also prints how each attempt was refused.
 */
export default async function securityLedger(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), 'aether-security-'))
  const file = join(dir, 'attempts.jsonl')
  project.provide('securityLedger', file)
  return async () => {
    const text = await readFile(file, 'utf8').catch(() => '')
    await rm(dir, { recursive: true, force: true })
    const records = text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as AttemptRecord)
    const allowed = records.filter((record) => !record.refused)
    if (process.env.AETHER_SECURITY_VERBOSE === '1')
      for (const record of records) console.log(`security: refused: ${record.attempt} (${record.detail})`)
    const grouped = new Map<string, number>()
    for (const { attempt, detail } of allowed) {
      const line = `${attempt} (${detail})`
      grouped.set(line, (grouped.get(line) ?? 0) + 1)
    }
    for (const [line, times] of grouped)
      console.log(`security: NOT REFUSED${times > 1 ? ` ${times} times` : ''}: ${line}`)
    console.log(
      `security: ${records.length} attempts, ${records.length - allowed.length} refused, ${allowed.length} allowed`,
    )
    if (allowed.length > 0) throw new Error(`${allowed.length} forbidden attempts were allowed`)
  }
}
