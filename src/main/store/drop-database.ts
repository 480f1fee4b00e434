import pg from 'pg'

/**
 * Drops a team database with the group roles migrations 0007 and 0024 made for it: roles are cluster-wide, so they
 * outlive the database unless dropped too. Their names end in the database's OID and their kind.
 */
export async function dropTeamDatabase(client: pg.ClientBase, name: string): Promise<void> {
  const { rows } = await client.query<{ oid: string }>('SELECT oid FROM pg_database WHERE datname = $1', [
    name,
  ])
  await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)
  const oid = rows[0]?.oid
  if (oid === undefined) return
  const { rows: roles } = await client.query<{ rolname: string }>(
    `SELECT rolname FROM pg_roles WHERE rolname ~ ('^aether_.*_' || $1::text || '_(analyst|supervisor|admin|ingest|worker)$')`,
    [oid],
  )
  for (const { rolname } of roles) await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(rolname)}`)
}
