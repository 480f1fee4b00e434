#!/usr/bin/env node
// The `aether` command. It runs the built CLI (out/main/cli.js); `npm run build` makes it.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const built = fileURLToPath(new URL('../out/main/cli.js', import.meta.url))
if (!existsSync(built)) {
  console.error('aether: the app is not built yet. Run `npm run build` in the project folder first.')
  process.exit(1)
}
const { main } = await import(built)
const code = await main(process.argv)
if (code !== 0) process.exitCode = code
