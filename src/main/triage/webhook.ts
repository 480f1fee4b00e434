import type { LiveAlert, WebhookChange, WebhookSetting } from '../../shared/triage-contract'
import type { StoreDb } from '../store/schema'
import { judged } from './errors'

/**
 * The team's optional Slack-compatible webhook: block-level alerts are POSTed as {"text": …}. Posted by
 * the headless side (webhook-poster.ts, run by every `aether worker`), exactly once per alert however
 * many workers run, with retries, whether or not a workstation is open. A workstation on a team
 * database never posts (the workers do, as they make every alert); in Local mode the app is the worker
 * and runs the poster's passes itself.
 */

const WEBHOOK_KEY = 'webhook_url'

/** The URL posts go to, or null: the workers' read (only admins and the worker group may read it, 0024). */
export async function webhookUrl(db: StoreDb): Promise<string | null> {
  const row = await db
    .selectFrom('triage_settings')
    .select('value')
    .where('key', '=', WEBHOOK_KEY)
    .executeTakeFirst()
  return row?.value ?? null
}

/** The setting as Settings shows it: the URL to admins; whether one is set, by whom and when, to all. */
export async function webhookSetting(db: StoreDb): Promise<WebhookSetting> {
  const described = (row: { updated_by: string; updated_at: Date | string } | undefined) => ({
    set: row !== undefined,
    setBy: row?.updated_by ?? null,
    setAt: row === undefined ? null : new Date(row.updated_at).toISOString(),
  })
  try {
    const row = await db
      .selectFrom('triage_settings')
      .select(['value', 'updated_by', 'updated_at'])
      .where('key', '=', WEBHOOK_KEY)
      .executeTakeFirst()
    return { url: row?.value ?? null, readable: true, ...described(row) }
  } catch (error) {
    if ((error as { code?: unknown }).code !== '42501') throw error
  }
  // Not an admin: whether it is set, by whom and when, never the URL (0021).
  const row = await db
    .selectFrom('triage_settings')
    .select(['updated_by', 'updated_at'])
    .where('key', '=', WEBHOOK_KEY)
    .executeTakeFirst()
  return { url: null, readable: false, ...described(row) }
}

export async function setWebhook(db: StoreDb, setting: WebhookChange): Promise<WebhookSetting> {
  return judged('change the team webhook', async () => {
    if (setting.url === null) await db.deleteFrom('triage_settings').where('key', '=', WEBHOOK_KEY).execute()
    else
      await db
        .insertInto('triage_settings')
        // Who and when are the store's to stamp (an admin may write only the key and the value).
        .values({ key: WEBHOOK_KEY, value: setting.url })
        .onConflict((conflict) => conflict.column('key').doUpdateSet({ value: setting.url ?? '' }))
        .execute()
    return webhookSetting(db)
  })
}

const money = (amount: string) =>
  Number(amount).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })

export function webhookText(alert: LiveAlert): string {
  const why = alert.reasons.map((reason) => reason.text).join('; ') || 'no reason recorded'
  const inCase = alert.caseId === null ? '' : ` (case #${alert.caseId})`
  return `:no_entry: Blocked ${money(alert.amount)} from ${alert.userId}, score ${alert.score}${inCase}: ${why}`
}
