/// <reference lib="dom" />
import { contextBridge, ipcRenderer, webUtils } from 'electron'
import { PICK_DATASET_FILE_CHANNEL, type AetherShell } from '../shared/desktop-shell'

/**
 * The preload exposes the contract's transport and two things a page cannot do itself: the system's file
 * dialog (one fixed channel, answered by the main process for our own page only) and the path of a
 * dropped file. The renderer's MessagePort goes to the main process, where the oRPC handler serves the
 * contract on it. No ipcRenderer, no generic channel, no Node reach the page.
 */
const shell: AetherShell<File> = {
  transport: 'ipc',
  pickDatasetFile: () => ipcRenderer.invoke(PICK_DATASET_FILE_CHANNEL) as Promise<string | null>,
  pathForDroppedFile: (file) => webUtils.getPathForFile(file),
}
contextBridge.exposeInMainWorld('aetherShell', shell)

window.addEventListener('message', (event: MessageEvent) => {
  if (event.source !== window || event.data !== 'aether:connect') return
  const [port] = event.ports
  if (port !== undefined) ipcRenderer.postMessage('aether:connect', null, [port])
})
