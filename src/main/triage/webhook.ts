import type { LiveAlert, WebhookSetting } from '../../shared/triage-contract'
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

export async function webhookSetting(db: StoreDb): Promise<WebhookSetting> {
  const row = await db
    .selectFrom('triage_settings')
    .select('value')
    .where('key', '=', WEBHOOK_KEY)
    .executeTakeFirst()
  return { url: row?.value ?? null }
}

export async function setWebhook(db: StoreDb, setting: WebhookSetting): Promise<WebhookSetting> {
  return judged('change the team webhook', async () => {
    if (setting.url === null) await db.deleteFrom('triage_settings').where('key', '=', WEBHOOK_KEY).execute()
    else
      await db
        .insertInto('triage_settings')
        .values({ key: WEBHOOK_KEY, value: setting.url, updated_at: new Date() })
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
