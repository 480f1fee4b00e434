import { expect, type Locator, type Page } from '@playwright/test'

export type DatasetTab = 'quality' | 'rows' | 'analyses' | 'sql' | 'backtest'

/** Datasets: open a file or the sample, its quality report, grid, analyses, SQL console and backtests. */
export class DatasetsPage {
  readonly path: Locator
  readonly importStatus: Locator
  readonly qualityReport: Locator
  readonly grid: Locator
  readonly gridCount: Locator
  /** Choose file… and the drop zone: the desktop app only. */
  readonly chooseFile: Locator
  readonly dropZone: Locator
  readonly dropNote: Locator
  readonly sqlProgress: Locator
  readonly backtestProgress: Locator

  constructor(readonly page: Page) {
    this.path = page.getByTestId('dataset-path')
    this.importStatus = page.getByTestId('import-progress')
    this.qualityReport = page.getByTestId('quality-report')
    this.grid = page.getByTestId('dataset-grid')
    this.gridCount = page.getByTestId('dataset-grid-count')
    this.chooseFile = page.getByTestId('choose-dataset')
    this.dropZone = page.getByTestId('dataset-drop-zone')
    this.dropNote = page.getByTestId('drop-note')
    this.sqlProgress = page.getByTestId('sql-progress')
    this.backtestProgress = page.getByTestId('backtest-progress')
  }

  /** Drops a file made in the page (a browser gives it no path) on the open panel. */
  async dropFile(name: string, text: string) {
    const dataTransfer = await this.page.evaluateHandle(
      ([fileName, content]) => {
        const transfer = new DataTransfer()
        transfer.items.add(new File([content], fileName, { type: 'text/csv' }))
        return transfer
      },
      [name, text] as const,
    )
    const panel = this.page.getByTestId('open-panel')
    await panel.dispatchEvent('dragover', { dataTransfer })
    await panel.dispatchEvent('drop', { dataTransfer })
  }

  async openPath(path: string) {
    await this.path.fill(path)
    await this.page.getByTestId('open-dataset').click()
  }

  async openSample() {
    await this.page.getByTestId('open-sample').click()
  }

  async cancelImport() {
    await this.page.getByTestId('import-cancel').click()
  }

  async expectImport(state: 'running' | 'done' | 'cancelled' | 'failed') {
    await expect(this.importStatus).toHaveAttribute('data-state', state, { timeout: 60_000 })
  }

  async tab(tab: DatasetTab) {
    await this.page.getByTestId(`dataset-tab-${tab}`).click()
    await expect(this.page.getByTestId(`dataset-tab-${tab}`)).toHaveAttribute('aria-selected', 'true')
  }

  /** A cell of the grid, by the row's position in the sorted, filtered result. */
  cell(grid: Locator, rowIndex: number, column: string) {
    return grid.locator(`.ag-row[row-index="${rowIndex}"] [role="gridcell"][col-id="${column}"]`)
  }

  headerCell(grid: Locator, column: string) {
    return grid.locator(`.ag-header-cell[col-id="${column}"] .ag-header-cell-label`)
  }

  async runSql(sql: string) {
    await this.page.getByTestId('sql-editor').fill(sql)
    await this.page.getByTestId('sql-run').click()
  }

  /** A long run's progress shows, then stops on Cancel. */
  async cancelRun(progress: Locator) {
    await expect(progress).toHaveAttribute('data-state', 'running')
    await progress.getByRole('button', { name: 'Cancel' }).click()
    await expect(progress).toHaveAttribute('data-state', 'cancelled')
  }

  async exportCsv(fileName: string) {
    await this.page.getByTestId('export-format').selectOption('csv')
    await this.page.getByTestId('export-name').fill(fileName)
    await this.page.getByTestId('export-button').click()
  }
}
