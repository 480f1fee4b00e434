import { sql, type Selectable, type Transaction } from 'kysely'
import { ListEntryDraft, ListKind, type ListEntry } from '../../shared/triage-contract'
import type { Database, ListsTable, StoreDb } from '../store/schema'
import { iso, isoOrNull } from './db'
import { judged, TriageNotFoundError } from './errors'

/**
 * Blocklists. The scoring pipeline reads this table (an ip entry is a network, so a CIDR range matches
 * every address in it); analysts manage it on the Lists page or from a case closed as fraud.
 */

type ListRow = Selectable<ListsTable>

const toEntry = (row: ListRow): ListEntry => ({
  id: row.id,
  kind: ListKind.parse(row.kind),
  value: row.value,
  reason: row.reason,
  createdBy: row.created_by,
  createdAt: iso(row.created_at),
  expiresAt: isoOrNull(row.expires_at),
  expired: row.expires_at !== null && new Date(row.expires_at).getTime() <= Date.now(),
})

const networkOf = (kind: ListKind, value: string) => (kind === 'ip' ? sql<string>`${value}::cidr` : null)

export async function listEntriesById(
  db: StoreDb | Transaction<Database>,
  ids: number[],
): Promise<ListEntry[]> {
  if (ids.length === 0) return []
  const rows = await db.selectFrom('lists').selectAll().where('id', 'in', ids).orderBy('id').execute()
  return rows.map(toEntry)
}

export async function listEntries(
  db: StoreDb,
  filter: { kind?: ListKind | undefined; search?: string | undefined },
): Promise<ListEntry[]> {
  let query = db.selectFrom('lists').selectAll()
  if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind)
  const search = filter.search?.trim()
  if (search !== undefined && search !== '') {
    const pattern = `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
    query = query.where((eb) => eb.or([eb('value', 'ilike', pattern), eb('reason', 'ilike', pattern)]))
  }
  const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(2000).execute()
  return rows.map(toEntry)
}

export async function addListEntry(db: StoreDb, input: ListEntryDraft): Promise<ListEntry> {
  const draft = ListEntryDraft.parse(input)
  return judged(`add ${draft.value} to the ${draft.kind} list`, async () => {
    const row = await db
      .insertInto('lists')
      .values({
        kind: draft.kind,
        value: draft.value,
        network: networkOf(draft.kind, draft.value),
        reason: draft.reason,
        expires_at: draft.expiresAt ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    return toEntry(row)
  })
}

export async function updateListEntry(
  db: StoreDb,
  input: { id: number; reason: string; expiresAt: string | null },
): Promise<ListEntry> {
  return judged('change this list entry', async () => {
    const row = await db
      .updateTable('lists')
      .set({ reason: input.reason, expires_at: input.expiresAt })
      .where('id', '=', input.id)
      .returningAll()
      .executeTakeFirst()
    if (row === undefined) throw new TriageNotFoundError(`List entry ${input.id} does not exist.`)
    return toEntry(row)
  })
}

export async function removeListEntry(db: StoreDb, id: number): Promise<{ id: number }> {
  return judged('remove this list entry', async () => {
    const row = await db.deleteFrom('lists').where('id', '=', id).returning('id').executeTakeFirst()
    if (row === undefined) throw new TriageNotFoundError(`List entry ${id} does not exist.`)
    return row
  })
}
