import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { attempt } from './support/attempts'
import { openTeamDatabase, urlAs, type TeamDatabase } from './support/team-database'

/** `aether analyst …` as an operator runs it: a real process, on the caller's own connection. */
const CLI = fileURLToPath(new URL('../support/aether-cli.ts', import.meta.url))

function aether(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', CLI, ...args], (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }),
    )
    child.stdin?.end(stdin ?? '')
  })
}

let team: TeamDatabase
const suffix = randomBytes(4).toString('hex')

beforeAll(async () => {
  team = await openTeamDatabase()
})

afterAll(async () => {
  await team?.dispose()
})

describe('aether analyst', () => {
  it('bootstraps the first admin as the schema owner, who then manages analysts with their own connection', async () => {
    const boss = team.track(`sec_boss_${suffix}`)
    const bootstrap = await aether(['analyst', 'add', '--url', team.database.url, '--role', 'admin', boss])
    expect(bootstrap.stderr).toBe('')
    expect(bootstrap.stdout).toMatch(new RegExp(`Added ${boss} \\(${boss}\\), admin, enabled`))
    expect(bootstrap.stdout).toMatch(/password, shown once/)

    const asBoss = urlAs(team.database.url, boss)
    const desk = team.track(`sec_desk_${suffix}`)
    const added = await aether(
      ['analyst', 'add', '--url', asBoss, '--name', 'Desk analyst', '--ingest', '--password-stdin', desk],
      'a passphrase of her own\n',
    )
    expect(added.stdout).toMatch(new RegExp(`Added ${desk} \\(Desk analyst\\), analyst \\+ ingest, enabled`))
    expect(added.stdout).not.toMatch(/shown once/)

    const promoted = await aether(['analyst', 'role', '--url', asBoss, desk, 'supervisor'])
    expect(promoted.stdout).toMatch(/supervisor \+ ingest/)
    const disabled = await aether(['analyst', 'disable', '--url', asBoss, desk])
    expect(disabled.stdout).toMatch(/disabled since/)
    const listed = await aether(['analyst', 'list', '--url', asBoss])
    expect(listed.stdout).toContain(`${desk} (Desk analyst), supervisor + ingest, disabled since`)

    // A pipeline worker joins this database the way the listing says, can store transactions and reads
    // the team webhook it posts to.
    const grant = /pipeline workers \(aether worker\): (GRANT aether_\S+_worker) TO <worker login>/.exec(
      listed.stdout,
    )?.[1]
    expect(grant, listed.stdout).toBeDefined()
    const worker = team.track(`sec_worker_${suffix}`)
    await sql.raw(`CREATE ROLE ${worker} LOGIN`).execute(team.owner.db)
    await sql.raw(`${grant} TO ${worker}`).execute(team.owner.db)
    const stored = await (
      await team.connect(worker)
    ).query(
      `INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency)
       VALUES (gen_random_uuid(), now(), 'U_cli', 'M_cli', 'PAYMENT', 1.25, 'USD')`,
    )
    expect(stored.rowCount).toBe(1)
    await expect(
      (await team.connect(worker)).query(`SELECT value FROM triage_settings`),
    ).resolves.toMatchObject({
      command: 'SELECT',
    })

    await attempt('an analyst disables an admin with `aether analyst disable`', async () => {
      const result = await aether([
        'analyst',
        'disable',
        '--url',
        urlAs(team.database.url, team.logins.analyst),
        boss,
      ])
      return result.code !== 0 && /Only administrators manage analysts/.test(result.stderr)
        ? { refused: true, detail: result.stderr.trim() }
        : { refused: false, detail: `exit ${result.code}: ${result.stdout}${result.stderr}` }
    })
  })

  it('refuses a login that is not one, before reaching the database', async () => {
    const result = await aether([
      'analyst',
      'add',
      '--url',
      team.database.url,
      'Robert"); DROP TABLE cases;--',
    ])
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/A login is 1 to 63 lower-case letters/)
  })
})
