import { expect, type Locator, type Page } from '@playwright/test'

/** The case queue, "Next case" and the case page with its actions and audit trail. */
export class CasesPage {
  readonly queue: Locator
  readonly view: Locator
  readonly error: Locator

  constructor(readonly page: Page) {
    this.queue = page.getByTestId('case-queue')
    this.view = page.getByTestId('case-view')
    this.error = page.getByTestId('case-error')
  }

  row(userId: string) {
    return this.page.getByTestId('case-row').filter({ hasText: userId })
  }

  async next(): Promise<number> {
    const before = (await this.view.count()) > 0 ? await this.view.getAttribute('data-case-id') : null
    await this.page.getByTestId('next-case').click()
    await expect(this.view).toBeVisible()
    if (before !== null) await expect(this.view).not.toHaveAttribute('data-case-id', before)
    return Number(await this.view.getAttribute('data-case-id'))
  }

  async addNote(text: string) {
    await this.view.getByTestId('note-text').fill(text)
    await this.view.getByTestId('add-note').click()
    await expect(this.auditRow('note').filter({ hasText: text })).toBeVisible()
  }

  async resolveAsFraud(options: { blockUser: boolean; note?: string }) {
    await this.view.getByTestId('resolve').click()
    const dialog = this.page.getByTestId('resolve-dialog')
    await dialog.getByTestId('outcome-fraud_confirmed').check()
    const user = dialog.getByTestId('block-user')
    if ((await user.isChecked()) !== options.blockUser) await user.click()
    if (options.note) await dialog.getByTestId('resolve-note').fill(options.note)
    await dialog.getByTestId('resolve-confirm').click()
    await expect(this.view.getByTestId('case-status')).toContainText('Closed · Fraud confirmed')
  }

  auditRow(action: string) {
    return this.view.getByTestId('audit-row').and(this.page.locator(`[data-action="${action}"]`))
  }
}
