/// <reference lib="dom" />
import { contextBridge, ipcRenderer } from 'electron'

/**
 * The preload exposes exactly the contract and nothing else: it hands the renderer's MessagePort to
 * the main process, where the oRPC handler serves the contract on it. No channel names, no
 * ipcRenderer, no Node reach the page.
 */
contextBridge.exposeInMainWorld('aetherShell', { transport: 'ipc' })

window.addEventListener('message', (event: MessageEvent) => {
  if (event.source !== window || event.data !== 'aether:connect') return
  const [port] = event.ports
  if (port !== undefined) ipcRenderer.postMessage('aether:connect', null, [port])
})
