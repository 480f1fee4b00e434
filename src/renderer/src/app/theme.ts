import { useCallback, useEffect, useState } from 'react'

export const THEME_PREFERENCES = ['system', 'light', 'dark'] as const
export type ThemePreference = (typeof THEME_PREFERENCES)[number]

const STORAGE_KEY = 'aether.theme'
const DARK_QUERY = '(prefers-color-scheme: dark)'

export function readThemePreference(): ThemePreference {
  const stored = window.localStorage.getItem(STORAGE_KEY)
  return THEME_PREFERENCES.find((preference) => preference === stored) ?? 'system'
}

/** Resolves the preference to the theme the stylesheet knows: data-theme is always light or dark. */
export function applyTheme(preference: ThemePreference): void {
  const dark = preference === 'dark' || (preference === 'system' && window.matchMedia(DARK_QUERY).matches)
  document.documentElement.dataset.theme = dark ? 'dark' : 'light'
}

export function useThemePreference(): [ThemePreference, (next: ThemePreference) => void] {
  const [preference, setPreference] = useState(readThemePreference)

  useEffect(() => {
    applyTheme(preference)
    if (preference !== 'system') return
    const media = window.matchMedia(DARK_QUERY)
    const followSystem = () => applyTheme('system')
    media.addEventListener('change', followSystem)
    return () => media.removeEventListener('change', followSystem)
  }, [preference])

  const choose = useCallback((next: ThemePreference) => {
    window.localStorage.setItem(STORAGE_KEY, next)
    setPreference(next)
  }, [])

  return [preference, choose]
}
