import type { LiveAlert, WebhookSetting } from '../../shared/triage-contract'
import type { StoreDb } from '../store/schema'
import { judged } from './errors'

/**
 * The team's optional Slack-compatible webhook: block-level alerts are POSTed as {"text": …}. Every open
 * workstation hears each alert; the one whose claim row lands first in webhook_deliveries posts it, so
 * the channel gets one message however many analysts are on shift.
 */

const WEBHOOK_KEY = 'webhook_url'
const POST_TIMEOUT_MS = 5000

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

/** Posts each block-level alert this workstation is first to claim; failures are recorded, never thrown. */
export async function deliverWebhooks(db: StoreDb, alerts: LiveAlert[]): Promise<void> {
  const blocks = alerts.filter((alert) => alert.decision === 'block')
  if (blocks.length === 0) return
  const { url } = await webhookSetting(db)
  if (url === null) return
  const claimed = await db
    .insertInto('webhook_deliveries')
    .values(blocks.map((alert) => ({ alert_id: alert.id })))
    .onConflict((conflict) => conflict.column('alert_id').doNothing())
    .returning('alert_id')
    .execute()
  const mine = new Set(claimed.map((row) => row.alert_id))
  for (const alert of blocks.filter((candidate) => mine.has(candidate.id))) {
    let status: number | null = null
    let error: string | null = null
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ text: webhookText(alert) }),
        signal: AbortSignal.timeout(POST_TIMEOUT_MS),
      })
      status = response.status
      if (!response.ok) error = `the webhook answered ${response.status} ${response.statusText}`
    } catch (failure) {
      error = failure instanceof Error ? failure.message : String(failure)
    }
    await db
      .updateTable('webhook_deliveries')
      .set({ status, error })
      .where('alert_id', '=', alert.id)
      .execute()
  }
}
