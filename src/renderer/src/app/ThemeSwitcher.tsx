import { useId } from 'react'
import { THEME_PREFERENCES, type ThemePreference } from './theme'

const THEME_LABELS: Record<ThemePreference, string> = { system: 'System', light: 'Light', dark: 'Dark' }

interface ThemeSwitcherProps {
  preference: ThemePreference
  onChange: (preference: ThemePreference) => void
}

export function ThemeSwitcher({ preference, onChange }: ThemeSwitcherProps) {
  const id = useId()
  return (
    <span className="theme-switcher">
      <label htmlFor={id}>Theme</label>
      <select
        id={id}
        data-testid="theme-switcher"
        value={preference}
        onChange={(event) => onChange(THEME_PREFERENCES.find((p) => p === event.target.value) ?? 'system')}
      >
        {THEME_PREFERENCES.map((option) => (
          <option key={option} value={option}>
            {THEME_LABELS[option]}
          </option>
        ))}
      </select>
    </span>
  )
}
