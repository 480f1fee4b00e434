import { expect, type Locator, type Page } from '@playwright/test'

export interface TeamProfileInput {
  name: string
  postgresUrl: string
  postgresPassword?: string
  redisUrl: string
  redisPassword?: string
}

/** Settings: connection profiles and the form that creates and tests them. */
export class SettingsPage {
  readonly form: Locator

  constructor(readonly page: Page) {
    this.form = page.getByTestId('profile-form')
  }

  profileRow(name: string) {
    return this.page.getByTestId(`profile-row-${name}`)
  }

  async fill(input: TeamProfileInput) {
    await this.form.getByLabel('Name', { exact: true }).fill(input.name)
    await this.form.getByLabel('PostgreSQL URL').fill(input.postgresUrl)
    await this.form.getByLabel('PostgreSQL password').fill(input.postgresPassword ?? '')
    await this.form.getByLabel('Redis URL').fill(input.redisUrl)
    await this.form.getByLabel('Redis password').fill(input.redisPassword ?? '')
  }

  async testConnection() {
    await this.form.getByRole('button', { name: 'Test connection' }).click()
  }

  async save() {
    await this.form.getByRole('button', { name: 'Save profile' }).click()
  }

  check(service: 'postgres' | 'redis') {
    return this.form.getByTestId(`check-${service}`)
  }

  async expectCheck(service: 'postgres' | 'redis', ok: boolean, message?: RegExp) {
    const check = this.check(service)
    await expect(check).toHaveAttribute('data-ok', String(ok))
    if (message !== undefined) await expect(check).toContainText(message)
  }

  fieldError(field: string) {
    return this.page.getByTestId(`field-error-${field}`)
  }
}
