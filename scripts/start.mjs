// npm start: builds the app, then opens the desktop window. Where the Electron binary cannot be
// fetched (offline or locked-down machines) it says so in one line and serves the same UI on
// loopback instead.
import { spawn, spawnSync } from 'node:child_process'

const run = (command, args) =>
  spawnSync(command, args, { stdio: 'inherit', shell: process.platform === 'win32' })

if (run('npx', ['electron-vite', 'build']).status !== 0) process.exit(1)

// require('electron') downloads the binary on first use; ask in a child so a failure stays quiet.
const probe = spawnSync(process.execPath, ['-e', "process.stdout.write(require('electron'))"], {
  encoding: 'utf8',
  timeout: 300_000,
  stdio: ['ignore', 'pipe', 'pipe'],
})
const electronPath = probe.status === 0 && probe.stdout !== '' ? probe.stdout : undefined

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
