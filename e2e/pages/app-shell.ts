import { expect, type Locator, type Page } from '@playwright/test'

export type Area = 'transactions' | 'cases' | 'dashboard' | 'datasets' | 'rules' | 'lists' | 'settings'

/** The app frame: rail, top bar, readiness. Shared by the browser and Electron projects. */
export class AppShell {
  readonly modeIndicator: Locator

  constructor(readonly page: Page) {
    this.modeIndicator = page.getByTestId('mode-indicator')
  }

  /** The app announces it is usable with data-app-state="ready"; we wait for that, never sleep. */
  async waitUntilReady() {
    await expect(this.page.locator('html')).toHaveAttribute('data-app-state', 'ready', { timeout: 60_000 })
  }

  async open(area: Area) {
    await this.page.getByTestId(`nav-${area}`).click()
    await expect(this.page.getByTestId(`nav-${area}`)).toHaveAttribute('aria-current', 'page')
  }

  async screenshot(name: string) {
    await this.page.screenshot({ path: `test-results/screenshots/${name}.png` })
  }
}
