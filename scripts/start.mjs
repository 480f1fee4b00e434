// npm start: builds the app, then opens the desktop window. Where the Electron binary cannot be
// fetched (offline or locked-down machines) it says so in one line and serves the same UI on
// loopback instead.
import { spawn, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

const run = (command, args) =>
  spawnSync(command, args, { stdio: 'inherit', shell: process.platform === 'win32' })

if (run('npx', ['electron-vite', 'build']).status !== 0) process.exit(1)

let electronPath
try {
  const quiet = console.log
  console.log = () => {}
  try {
    electronPath = createRequire(import.meta.url)('electron')
  } finally {
    console.log = quiet
  }
} catch {
  electronPath = undefined
}

if (electronPath !== undefined) {
  const child = spawn(electronPath, ['.'], { stdio: 'inherit' })
  child.on('exit', (code) => process.exit(code ?? 0))
} else {
  console.log(
    'Electron could not be downloaded on this machine; serving the same workstation in your browser instead.',
  )
  const child = spawn(process.execPath, ['bin/aether.js', 'serve', ...process.argv.slice(2)], {
    stdio: 'inherit',
  })
  child.on('exit', (code) => process.exit(code ?? 0))
}
