import { createORPCClient } from '@orpc/client'
import { RPCLink as MessagePortLink } from '@orpc/client/message-port'
import { RPCLink as WebSocketLink } from '@orpc/client/websocket'
import type { ContractRouterClient } from '@orpc/contract'
import { createTanstackQueryUtils } from '@orpc/tanstack-query'
import type { Contract } from '../../../shared/contract'
import type { AetherShell } from '../../../shared/desktop-shell'

/**
 * The one file that picks the transport. Inside Electron the preload announces itself and we hand
 * it a MessagePort; in a browser (the loopback host) we speak WebSocket to the page's own origin,
 * authenticated by the launch's token (never by a cookie: see src/main/host/server.ts).
 */
declare global {
  interface Window {
    aetherShell?: AetherShell<File>
  }
}

export type AetherClient = ContractRouterClient<Contract>
export type Transport = 'ipc' | 'websocket'

export const transport: Transport = window.aetherShell?.transport === 'ipc' ? 'ipc' : 'websocket'

function ipcLink() {
  const { port1: clientPort, port2: serverPort } = new MessageChannel()
  window.postMessage('aether:connect', window.location.origin === 'null' ? '*' : window.location.origin, [
    serverPort,
  ])
  clientPort.start()
  return new MessagePortLink({ port: clientPort })
}

/** Resolves when the socket has closed, so the UI can say the host went away. */
export let connectionLost: Promise<void> = new Promise(() => {})

/** False in a tab opened without the launch's token (a bookmark, a new tab): it can reach nothing. */
export let hasHostToken = true

const TOKEN_KEY = 'aether.token'

/**
 * The launch's token: from the URL `aether serve` printed (then kept in this tab's sessionStorage and
 * taken out of the address bar, so it is not bookmarked or shared with a screenshot), or kept before.
 */
function hostToken(): string {
  const url = new URL(window.location.href)
  const given = url.searchParams.get('token')
  if (given !== null) {
    sessionStorage.setItem(TOKEN_KEY, given)
    url.searchParams.delete('token')
    window.history.replaceState(window.history.state, '', `${url.pathname}${url.search}${url.hash}`)
    return given
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? ''
}

function websocketLink() {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:'
  const given = hostToken()
  hasHostToken = given !== ''
  const token = encodeURIComponent(given)
  const websocket = new WebSocket(`${scheme}//${window.location.host}/rpc?token=${token}`)
  connectionLost = new Promise((resolve) => websocket.addEventListener('close', () => resolve()))
  return new WebSocketLink({ websocket })
}

export const client: AetherClient = createORPCClient(transport === 'ipc' ? ipcLink() : websocketLink())
export const orpc = createTanstackQueryUtils(client)
