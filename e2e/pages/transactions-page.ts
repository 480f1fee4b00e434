import { expect, type Locator, type Page } from '@playwright/test'

/** The Transactions grid, its quick filters and the detail panel. */
export class TransactionsPage {
  readonly grid: Locator
  readonly detail: Locator

  constructor(readonly page: Page) {
    this.grid = page.getByTestId('transactions-grid')
    this.detail = page.getByTestId('transaction-detail')
  }

  rows() {
    return this.grid.locator('.ag-row')
  }

  async filterUser(userId: string) {
    await this.page.getByTestId('filter-user').fill(userId)
  }

  async openFirstRow() {
    await this.rows().first().click()
    await expect(this.detail).toBeVisible()
  }
}
