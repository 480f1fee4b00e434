/// <reference types="electron-vite/node" />
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'

/**
 * Where a worker thread's code is. Built (the app, the CLI): the chunk electron-vite emits for the
 * caller's `import('./x?modulePath')`. From source (tests, tsx): the .ts file, loaded through tsx
 * registered in the thread itself, since Node cannot load TypeScript.
 */
export async function workerEntry(
  source: URL,
  built: () => Promise<{ default: string }>,
): Promise<string | URL> {
  if (!import.meta.url.endsWith('.ts')) return (await built()).default
  const tsx = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href
  const code = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(source.href)})`
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`)
}

/**
 * The same for a child process (`child_process.fork`): built, the emitted chunk; from source, the .ts
 * file with tsx imported first.
 */
export async function processEntry(
  source: URL,
  built: () => Promise<{ default: string }>,
): Promise<{ path: string; execArgv: string[] }> {
  if (!import.meta.url.endsWith('.ts')) return { path: (await built()).default, execArgv: [] }
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href
  return { path: fileURLToPath(source), execArgv: ['--import', tsx] }
}
