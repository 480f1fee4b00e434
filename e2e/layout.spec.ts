import type { Browser, Page } from '@playwright/test'
import { expect, serveApp, stopApp, test, type ServedApp } from './fixtures'
import { AppShell, type Area } from './pages/app-shell'

/**
 * Every page at 1280×720 and 1920×1080, light and dark: no text runs out of its cell unless it ends in
 * an ellipsis or has a tooltip (a title) that shows it whole, and no console error on the way. Runs on
 * Local mode's first start, with the sample replaying, so the pages hold data.
 */

const VIEWPORTS = [
  { width: 1280, height: 720 },
  { width: 1920, height: 1080 },
]
const THEMES = ['light', 'dark'] as const
const AREAS: Area[] = ['transactions', 'cases', 'dashboard', 'datasets', 'rules', 'lists', 'settings']

/**
 * Text that overflows: an element's own text reaching past the box that clips it (its own or the nearest
 * ancestor that clips or is a table or grid cell), without text-overflow: ellipsis and without a title
 * on it or an ancestor. Scrolling boxes (overflow auto or scroll) show the rest by scrolling: not counted.
 */
async function overflowingText(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = []
    const isCell = (el: Element) =>
      el.tagName === 'TD' ||
      el.tagName === 'TH' ||
      el.classList.contains('ag-cell') ||
      el.classList.contains('ag-header-cell')
    const describe = (el: Element) => {
      const id = el.closest('[data-testid]')?.getAttribute('data-testid')
      const text = (el.textContent ?? '').trim().replace(/\s+/g, ' ').slice(0, 60)
      return `${id ? `[${id}] ` : ''}<${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? `.${el.className.split(' ').join('.')}` : ''}> "${text}"`
    }
    for (const el of document.body.querySelectorAll('*')) {
      if (!(el instanceof HTMLElement) || el.closest('svg, [aria-hidden="true"], .sr-only, .visually-hidden'))
        continue
      const ownText = [...el.childNodes].filter(
        (node) => node.nodeType === Node.TEXT_NODE && (node.textContent ?? '').trim() !== '',
      )
      if (ownText.length === 0) continue
      const style = getComputedStyle(el)
      if (style.visibility === 'hidden' || style.display === 'none') continue
      // Text kept for screen readers only (clipped to nothing) is not shown, so never cut.
      if (style.clip !== 'auto' && style.clip !== '') continue
      if (style.clipPath !== 'none' && style.clipPath !== '') continue
      const range = document.createRange()
      let right = -Infinity
      let left = Infinity
      for (const node of ownText) {
        range.selectNodeContents(node)
        for (const rect of range.getClientRects()) {
          if (rect.width === 0) continue
          right = Math.max(right, rect.right)
          left = Math.min(left, rect.left)
        }
      }
      if (right === -Infinity) continue
      // The box that holds the text: the element itself when it clips, else the nearest clipping
      // ancestor or cell.
      let box: HTMLElement | null = el
      while (box !== null) {
        const boxStyle = getComputedStyle(box)
        if (boxStyle.overflowX !== 'visible' || isCell(box)) break
        box = box.parentElement
      }
      if (box === null || box === document.body) continue
      const boxStyle = getComputedStyle(box)
      if (boxStyle.overflowX === 'auto' || boxStyle.overflowX === 'scroll') continue
      const rect = box.getBoundingClientRect()
      if (rect.width <= 2) continue
      const padding = 1
      if (right <= rect.right + padding && left >= rect.left - padding) continue
      // Hidden by an outer scroller (a grid column scrolled out of view) is not this text's fault.
      const visible = el.checkVisibility?.({ checkOpacity: true, checkVisibilityCSS: true }) ?? true
      if (!visible) continue
      const ellipsis = style.textOverflow === 'ellipsis' || boxStyle.textOverflow === 'ellipsis'
      const titled = el.closest('[title]') !== null
      if (ellipsis || titled) continue
      problems.push(describe(el))
    }
    return [...new Set(problems)]
  })
}

async function openPage(
  browser: Browser,
  app: ServedApp,
  viewport: (typeof VIEWPORTS)[number],
  theme: string,
) {
  const context = await browser.newContext({
    viewport,
    colorScheme: theme as 'light' | 'dark',
  })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  page.on('pageerror', (error) => errors.push(error.message))
  await page.goto(app.url)
  const shell = new AppShell(page)
  await shell.waitUntilReady()
  await expect(page.locator('html')).toHaveAttribute('data-theme', theme)
  return { context, page, shell, errors }
}

test.describe('layout at every size and theme', () => {
  test.describe.configure({ timeout: 600_000 })
  let app: ServedApp

  test.beforeAll(async () => {
    app = await serveApp()
  })

  test.afterAll(async () => {
    await stopApp(app)
  })

  test('no text overflows its cell without an ellipsis or a tooltip, and no console error', async ({
    browser,
  }) => {
    const found: string[] = []
    // The check itself: a cut text is found; the same text ending in an ellipsis, or with a title, is not.
    {
      const { context, page } = await openPage(
        browser,
        app,
        VIEWPORTS[0] as (typeof VIEWPORTS)[number],
        'light',
      )
      await page.evaluate(() => {
        const cell = (id: string, css: string, title?: string) => {
          const div = document.createElement('div')
          div.dataset.testid = id
          div.style.cssText = `width: 40px; overflow: hidden; white-space: nowrap; ${css}`
          if (title) div.title = title
          div.textContent = 'a text far too long for its cell'
          document.body.append(div)
        }
        cell('probe-cut', '')
        cell('probe-ellipsis', 'text-overflow: ellipsis')
        cell('probe-title', '', 'a text far too long for its cell')
      })
      const probes = (await overflowingText(page)).filter((problem) => problem.includes('probe-'))
      expect(probes).toEqual([expect.stringContaining('[probe-cut]')])
      await context.close()
    }
    for (const viewport of VIEWPORTS)
      for (const theme of THEMES) {
        const { context, page, shell, errors } = await openPage(browser, app, viewport, theme)
        const where = `${viewport.width}×${viewport.height} ${theme}`
        for (const area of AREAS) {
          await shell.open(area)
          await page.waitForLoadState('networkidle').catch(() => {})
          if (area === 'transactions') {
            await expect(page.getByTestId('transactions-grid').locator('.ag-row').first()).toBeVisible({
              timeout: 60_000,
            })
            await page.getByTestId('transactions-grid').locator('.ag-row').first().click()
            await expect(page.getByTestId('transaction-detail')).toBeVisible()
          }
          if (area === 'cases') {
            const first = page.getByTestId('case-row').first()
            await expect(first).toBeVisible({ timeout: 90_000 })
            await first.click()
            await expect(page.getByTestId('case-view')).toBeVisible()
          }
          if (area === 'dashboard')
            await expect(page.getByTestId('chart-volume').locator('svg').first()).toBeVisible({
              timeout: 60_000,
            })
          for (const problem of await overflowingText(page)) found.push(`${where} ${area}: ${problem}`)
          await shell.screenshot(`layout-${area}-${viewport.width}-${theme}`)
        }
        for (const error of errors) found.push(`${where} console error: ${error}`)
        await context.close()
      }
    expect(found, found.join('\n')).toEqual([])
  })
})
