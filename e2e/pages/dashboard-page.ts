import { expect, type Locator, type Page } from '@playwright/test'

/** The Dashboard: range picker, pipeline health and the charts. */
export class DashboardPage {
  readonly health: Locator

  constructor(readonly page: Page) {
    this.health = page.getByTestId('pipeline-health')
  }

  chart(name: 'volume' | 'decisions' | 'amounts' | 'rules') {
    return this.page.getByTestId(`chart-${name}`)
  }

  async chooseRange(label: string) {
    await this.page.getByTestId('range-picker').getByRole('radio', { name: label }).click()
    await expect(this.page.getByTestId('dashboard-toolbar')).toHaveAttribute('data-loading', 'false')
  }

  async expectCharts() {
    for (const name of ['volume', 'decisions', 'amounts', 'rules'] as const)
      await expect(this.chart(name).locator('svg').first()).toBeVisible()
  }
}
