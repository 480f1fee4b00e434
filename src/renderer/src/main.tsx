import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { App } from './App'
import { applyTheme, readThemePreference } from './app/theme'
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
