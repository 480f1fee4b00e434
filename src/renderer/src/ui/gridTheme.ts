import { colorSchemeDark, colorSchemeLight, themeQuartz } from 'ag-grid-community'
import { useSyncExternalStore } from 'react'

/** AG Grid's Quartz theme, compact, in the app's light or dark (data-theme on <html>, see app/theme.ts). */
const compact = themeQuartz.withParams({
  spacing: 4,
  fontSize: 12,
  headerFontSize: 12,
  rowHeight: 26,
  headerHeight: 28,
  fontFamily: 'inherit',
  wrapperBorderRadius: 4,
})
const light = compact.withPart(colorSchemeLight)
const dark = compact.withPart(colorSchemeDark)

function subscribe(onChange: () => void) {
  const observer = new MutationObserver(onChange)
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] })
  return () => observer.disconnect()
}

const isDark = () => document.documentElement.dataset.theme === 'dark'

export function useGridTheme() {
  return useSyncExternalStore(subscribe, isDark) ? dark : light
}
