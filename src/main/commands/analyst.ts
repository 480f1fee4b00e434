import { randomBytes } from 'node:crypto'
import { text } from 'node:stream/consumers'
import { InvalidArgumentError, type Command } from 'commander'
import type { z } from 'zod'
import { type Analyst, AnalystLogin, AnalystPassword, AnalystRole } from '../../shared/session-contract'
import { diagnosePostgres } from '../core/connection-check'
import { withoutPassword } from '../core/profiles'
import { AnalystAdminError, AnalystDirectory } from '../security/analysts'
import { openPostgresStore } from '../store/store'

const parsedWith =
  <T>(schema: z.ZodType<T>) =>
  (value: string): T => {
    const parsed = schema.safeParse(value)
    if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues[0]?.message ?? 'invalid value')
    return parsed.data
  }
const login = parsedWith(AnalystLogin)
const role = parsedWith(AnalystRole)
const onOff = (value: string) => {
  if (value !== 'on' && value !== 'off') throw new InvalidArgumentError('say on or off')
  return value === 'on'
}

interface Connection {
  url: string
}

/** Runs one administration call on the caller's own connection, so PostgreSQL decides who may. */
async function withDirectory<T>(options: Connection, run: (directory: AnalystDirectory) => Promise<T>) {
  let split: ReturnType<typeof withoutPassword>
  try {
    split = withoutPassword(options.url)
  } catch {
    throw new Error(`--url is not a PostgreSQL URL: ${options.url}`)
  }
  const store = openPostgresStore({
    connectionString: split.url,
    password: split.password ?? process.env.PGPASSWORD,
    max: 1,
    applicationName: 'aether analyst',
  })
  try {
    return await run(new AnalystDirectory(store.db))
  } catch (error) {
    if (error instanceof AnalystAdminError || typeof (error as { code?: unknown }).code !== 'string')
      throw error
    throw new Error(diagnosePostgres(error, split.url).message, { cause: error })
  } finally {
    await store.close()
  }
}

const describe = (analyst: Analyst) =>
  `${analyst.login} (${analyst.displayName}), ${analyst.role}${analyst.ingests ? ' + ingest' : ''}, ${
    analyst.disabledAt === null ? 'enabled' : `disabled since ${analyst.disabledAt}`
  }`

/** The first line of standard input, so a password never appears in the shell history or `ps`. */
async function passwordFromStdin(): Promise<string> {
  const first = (await text(process.stdin)).split(/\r?\n/)[0] ?? ''
  const parsed = AnalystPassword.safeParse(first)
  if (!parsed.success) throw new Error(`The password on standard input: ${parsed.error.issues[0]?.message}`)
  return parsed.data
}

export function registerAnalyst(program: Command) {
  const analyst = program
    .command('analyst')
    .description(
      'Manage analysts of a team database (as an admin, or as the schema owner to add the first admin)',
    )
  const urlOption = [
    '--url <postgres-url>',
    'your own connection (password from the URL or PGPASSWORD)',
  ] as const

  analyst
    .command('add')
    .description(
      'Add an analyst to this database: a new PostgreSQL login in the group of their role, or a login the ' +
        'server already has (an analyst of another team database), whose password stays as it is',
    )
    .argument('<login>', 'their PostgreSQL user name', login)
    .requiredOption(...urlOption)
    .option('--role <role>', 'analyst, supervisor or admin', role, 'analyst')
    .option('--name <display-name>', 'the name shown in the app (default: the login)')
    .option(
      '--password-stdin',
      "read a new login's first password from standard input instead of generating one",
    )
    .option('--ingest', 'let their workstation run a pipeline worker with their login')
    .action(
      async (
        who: string,
        options: Connection & { role: AnalystRole; name?: string; passwordStdin?: boolean; ingest?: boolean },
      ) => {
        const given = options.passwordStdin === true ? await passwordFromStdin() : undefined
        let generated: string | undefined
        const { added, existed } = await withDirectory(options, async (directory) => {
          // A login the server already has joins without a password, and keeps its own; the database
          // refuses one given for it rather than change it for every database.
          const existed = given === undefined && (await directory.loginExists(who))
          if (given === undefined && !existed) generated = randomBytes(18).toString('base64url')
          const password = given ?? generated
          const analyst = await directory.add({
            login: who,
            displayName: options.name ?? who,
            role: options.role,
            ...(password !== undefined ? { password } : {}),
          })
          return {
            added: options.ingest === true ? await directory.setIngest(who, true) : analyst,
            existed,
          }
        })
        console.log(`Added ${describe(added)}.`)
        if (existed) console.log(`${who} already had a login on this server; their password is unchanged.`)
        if (generated !== undefined)
          console.log(`Their password, shown once (they can change it with \\password in psql): ${generated}`)
      },
    )

  analyst
    .command('disable')
    .description(
      'Take away their rights in this database and end their open sessions on it at once ' +
        '(their login and other databases are left as they are)',
    )
    .argument('<login>', 'the analyst', login)
    .requiredOption(...urlOption)
    .action(async (who: string, options: Connection) => {
      const disabled = await withDirectory(options, (directory) => directory.disable(who))
      console.log(`Disabled ${describe(disabled)}; their open sessions on this database were ended.`)
    })

  analyst
    .command('enable')
    .description('Let a disabled analyst use this database again')
    .argument('<login>', 'the analyst', login)
    .requiredOption(...urlOption)
    .action(async (who: string, options: Connection) => {
      const enabled = await withDirectory(options, (directory) => directory.enable(who))
      console.log(`Enabled ${describe(enabled)}.`)
    })

  analyst
    .command('role')
    .description("Change an analyst's role")
    .argument('<login>', 'the analyst', login)
    .argument('<role>', 'analyst, supervisor or admin', role)
    .requiredOption(...urlOption)
    .action(async (who: string, newRole: AnalystRole, options: Connection) => {
      const changed = await withDirectory(options, (directory) => directory.setRole(who, newRole))
      console.log(`Changed ${describe(changed)}.`)
    })

  analyst
    .command('ingest')
    .description(
      "Whether an analyst's workstation runs a pipeline worker (writes transactions) with their login",
    )
    .argument('<login>', 'the analyst', login)
    .argument('<on|off>', 'on or off', onOff)
    .requiredOption(...urlOption)
    .action(async (who: string, ingests: boolean, options: Connection) => {
      const changed = await withDirectory(options, (directory) => directory.setIngest(who, ingests))
      console.log(`Changed ${describe(changed)}.`)
    })

  analyst
    .command('list')
    .description('List the analysts of the database')
    .requiredOption(...urlOption)
    .action(async (options: Connection) => {
      const [analysts, groups] = await withDirectory(options, (directory) =>
        Promise.all([directory.list(), directory.groups()]),
      )
      if (analysts.length === 0) console.log('No analysts yet. Add the first admin as the schema owner.')
      for (const each of analysts) console.log(describe(each))
      console.log(
        `Group roles of this database: ${groups.analyst}, ${groups.supervisor}, ${groups.admin}; ` +
          `pipeline workers (aether worker): GRANT ${groups.worker} TO <worker login>; ` +
          `gateways: GRANT ${groups.ingest} TO <gateway login>`,
      )
    })
}
