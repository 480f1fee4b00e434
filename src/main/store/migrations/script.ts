import { sql, type Kysely } from 'kysely'

/**
 * Runs a DDL script one statement at a time: PGlite's query path takes a single statement.
 * Statements end with a semicolon at the end of a line; a function body ($$ … $$) must go in its own
 * runScript call with no inner line ending in a semicolon, or through sql`` directly.
 */
export async function runScript(db: Kysely<unknown>, script: string): Promise<void> {
  const statements = script
    .split(/;\s*$/m)
    .map((statement) => statement.trim())
    .filter((statement) => statement.replace(/--.*$/gm, '').trim() !== '')
  for (const statement of statements) await sql.raw(statement).execute(db)
}
