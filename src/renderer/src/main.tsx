import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { App } from './App'
import { applyTheme, readThemePreference } from './app/theme'
// Every page's styles load with the first paint (28 KB): pages share class names (score badge, mini table,
// chart card), so a page opened first must not wait for another page's chunk to be styled. Order as before.
import './features/transactions/transactions.css'
import './features/cases/cases.css'
import './features/dashboard/dashboard.css'
import './features/datasets/datasets.css'
import './features/lists/lists.css'
import './features/rules/rules.css'
import './global.css'

// Before the first render, so a dark desktop never flashes white.
applyTheme(readThemePreference())

const queryClient = new QueryClient({
  defaultOptions: {
    // A desktop window gains and loses focus all day; refetching on each would only add noise.
    queries: { refetchOnWindowFocus: false, retry: 1 },
    mutations: { retry: false },
  },
})

const rootElement = document.getElementById('root')
if (!rootElement) throw new Error('index.html has no #root element')

createRoot(rootElement).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
)
