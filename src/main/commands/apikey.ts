import { InvalidArgumentError, type Command } from 'commander'
import { diagnosePostgres } from '../core/connection-check'
import { withoutPassword } from '../core/profiles'
import { postgresUrl } from '../pipeline/cli-options'
import { API_KEY_SCOPES, ApiKeyAdmin, type ApiKeyScope } from '../security/api-keys'
import { openPostgresStore } from '../store/store'

interface Connection {
  url: string
}

const keyName = (value: string) => {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(value))
    throw new InvalidArgumentError('a key name is 1 to 63 letters, digits, _ . or -')
  return value
}

const scopes = (value: string): ApiKeyScope[] => {
  const list = value.split(',').map((scope) => scope.trim())
  const unknown = list.filter((scope) => !(API_KEY_SCOPES as readonly string[]).includes(scope))
  if (list.length === 0 || unknown.length > 0)
    throw new InvalidArgumentError(`scopes are ${API_KEY_SCOPES.join(', ')} (comma-separated)`)
  return list as ApiKeyScope[]
}

/** Runs one call on the admin's own connection, so PostgreSQL decides who may. */
async function withAdmin<T>(options: Connection, run: (admin: ApiKeyAdmin) => Promise<T>): Promise<T> {
  // --url was checked by postgresUrl, as every command's PostgreSQL URL is.
  const split = withoutPassword(options.url)
  const store = openPostgresStore({
    connectionString: split.url,
    password: split.password ?? process.env.PGPASSWORD,
    max: 1,
    applicationName: 'aether apikey',
  })
  try {
    return await run(new ApiKeyAdmin(store.db))
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (code === '42501')
      throw new Error('Only administrators manage API keys; this account is not one.', { cause: error })
    if (code === 'P0002' || code === '22023' || code === '23505')
      throw new Error((error as Error).message, { cause: error })
    if (typeof code !== 'string') throw error
    throw new Error(diagnosePostgres(error, split.url).message, { cause: error })
  } finally {
    await store.close()
  }
}

export function registerApiKey(program: Command) {
  const apikey = program
    .command('apikey')
    .description('Manage the Decision API keys of a team database (admins)')
  const urlOption = [
    '--url <postgres-url>',
    'your own connection (password from the URL or PGPASSWORD)',
    postgresUrl,
  ] as const

  apikey
    .command('add')
    .description('Create a key; it is printed once and only its hash is stored')
    .argument('<name>', 'what the key is for (shown in metrics and lists)', keyName)
    .requiredOption(...urlOption)
    .option('--scopes <list>', 'submit, read or submit,read', scopes, ['submit', 'read'] as ApiKeyScope[])
    .action(async (name: string, options: Connection & { scopes: ApiKeyScope[] }) => {
      const added = await withAdmin(options, (admin) => admin.add(name, options.scopes))
      console.log(`Added key ${added.name} (id ${added.id}, scopes ${added.scopes.join(',')}).`)
      console.log(`The key, shown once (send it as "Authorization: Bearer <key>"):\n${added.key}`)
    })

  apikey
    .command('revoke')
    .description('Refuse a key on every gateway from now on (within a second)')
    .argument('<name>', 'the key', keyName)
    .requiredOption(...urlOption)
    .action(async (name: string, options: Connection) => {
      const revoked = await withAdmin(options, (admin) => admin.revoke(name))
      console.log(`Revoked key ${revoked.name} (id ${revoked.id}) at ${revoked.revokedAt}.`)
    })

  apikey
    .command('list')
    .description('The keys, with their scopes and last use')
    .requiredOption(...urlOption)
    .action(async (options: Connection) => {
      const keys = await withAdmin(options, (admin) => admin.list())
      if (keys.length === 0) console.log('No API keys.')
      for (const key of keys)
        console.log(
          `${key.name}\tid ${key.id}\t${key.scopes.join(',')}\tcreated ${key.createdAt} by ${key.createdBy}\t${
            key.revokedAt === null ? 'live' : `revoked ${key.revokedAt}`
          }\tlast used ${key.lastUsedAt ?? 'never'}`,
        )
    })
}
