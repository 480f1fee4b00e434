import { createORPCClient } from '@orpc/client'
import { RPCLink } from '@orpc/client/websocket'
import type { ContractRouterClient } from '@orpc/contract'
import WebSocket from 'ws'
import type { Host } from '../../src/main/host/server'
import type { Contract } from '../../src/shared/contract'

/** Opens a socket to the host and resolves with the HTTP status of the upgrade (101 = accepted). */
export function upgradeStatus(host: Host, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${host.port}${path}`, { headers })
    socket.on('open', () => {
      socket.close()
      resolve(101)
    })
    socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0))
    socket.on('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error)
    })
  })
}

/** The contract over the host's WebSocket, as the browser renderer speaks it. */
export async function contractOverWebSocket(host: Host) {
  const websocket = new WebSocket(`ws://127.0.0.1:${host.port}/rpc?token=${host.token}`, {
    headers: { Origin: host.origin },
  })
  await new Promise((resolve, reject) => {
    websocket.once('open', resolve)
    websocket.once('error', reject)
  })
  const client: ContractRouterClient<Contract> = createORPCClient(
    new RPCLink({ websocket: websocket as unknown as globalThis.WebSocket }),
  )
  return { client, websocket }
}
