import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { extname, join, normalize, sep } from 'node:path'
import { RPCHandler } from '@orpc/server/ws'
import { WebSocketServer } from 'ws'
import type { AetherRouter } from '../core/router'

/** The largest contract message a browser may send; bigger frames close the socket (1009). */
export const MAX_FRAME_BYTES = 1024 * 1024
const COOKIE = 'aether_session'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
}

export interface HostOptions {
  router: AetherRouter
  /** The built renderer (out/renderer). */
  rendererDir: string
  /** 0 picks a free port. */
  port?: number
  /** Fixed token for tests; a fresh random one per launch otherwise. */
  token?: string
}

export interface Host {
  url: string
  origin: string
  token: string
  port: number
  close(): Promise<void>
}

const sameSecret = (given: string | undefined, token: string) => {
  if (given === undefined) return false
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

const cookieValue = (request: IncomingMessage) =>
  /(?:^|;\s*)aether_session=([^;]+)/.exec(request.headers.cookie ?? '')?.[1]

/**
 * The loopback transport: serves the built renderer over HTTP and the contract over WebSocket, on
 * 127.0.0.1 only. Like Jupyter, every launch has a random token, given in the printed URL; the first
 * visit trades it for an HttpOnly cookie. Host and Origin are checked so other sites and DNS
 * rebinding cannot reach it.
 */
export async function startHost(options: HostOptions): Promise<Host> {
  const token = options.token ?? randomBytes(32).toString('base64url')
  const handler = new RPCHandler(options.router)
  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES })
  let allowedHosts = new Set<string>()
  let allowedOrigins = new Set<string>()

  const authorized = (request: IncomingMessage, url: URL) =>
    sameSecret(cookieValue(request), token) || sameSecret(url.searchParams.get('token') ?? undefined, token)

  const server = createServer((request, response) => {
    void serveHttp(request, response).catch((error: unknown) => {
      console.error('[aether] host error:', error)
      if (!response.headersSent) response.writeHead(500).end('Internal error')
    })
  })

  async function serveHttp(request: IncomingMessage, response: ServerResponse) {
    if (!allowedHosts.has(request.headers.host ?? '')) return refuse(response, 421, 'Unknown host name.')
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return refuse(response, 405, 'Method not allowed.')
    const url = new URL(request.url ?? '/', `http://${request.headers.host}`)
    if (!authorized(request, url))
      return refuse(response, 401, 'Missing or wrong token: open the URL that `aether serve` printed.')
    if (url.searchParams.has('token')) {
      url.searchParams.delete('token')
      response.writeHead(303, {
        'Set-Cookie': `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        Location: `${url.pathname}${url.search}`,
        'Cache-Control': 'no-store',
      })
      return response.end()
    }
    await serveFile(url.pathname, response)
  }

  async function serveFile(pathname: string, response: ServerResponse) {
    const root = normalize(options.rendererDir + sep)
    let decoded: string
    try {
      decoded = decodeURIComponent(pathname)
    } catch {
      // A malformed escape (`/%E0%A4%A`) is the client's mistake, not the host's.
      return refuse(response, 400, 'Malformed path: a percent escape does not decode to text.')
    }
    if (decoded.includes('\0')) return refuse(response, 400, 'Malformed path.')
    let file = normalize(join(root, decoded))
    if (!file.startsWith(root)) return refuse(response, 404, 'Not found.')
    const info = await stat(file).catch(() => undefined)
    if (info === undefined || info.isDirectory()) file = join(root, 'index.html')
    const type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream'
    response.writeHead(200, {
      'Content-Type': type,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'X-Frame-Options': 'DENY',
      'Cross-Origin-Opener-Policy': 'same-origin',
    })
    createReadStream(file).pipe(response)
  }

  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1')
    const reject = (status: number, reason: string) => {
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    if (!allowedHosts.has(request.headers.host ?? '')) return reject(421, 'Misdirected Request')
    if (url.pathname !== '/rpc') return reject(404, 'Not Found')
    if (!allowedOrigins.has(request.headers.origin ?? '')) return reject(403, 'Forbidden')
    if (!authorized(request, url)) return reject(401, 'Unauthorized')
    sockets.handleUpgrade(request, socket, head, (ws) => {
      // An oversized or malformed frame closes this socket (1009/1002); it must not crash the host.
      ws.on('error', () => ws.terminate())
      void handler.upgrade(ws, { context: {} })
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`])
  allowedOrigins = new Set([...allowedHosts].map((host) => `http://${host}`))
  const origin = `http://127.0.0.1:${port}`

  return {
    url: `${origin}/?token=${token}`,
    origin,
    token,
    port,
    close: async () => {
      for (const client of sockets.clients) client.terminate()
      sockets.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

function refuse(response: ServerResponse, status: number, message: string) {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' })
  response.end(`${message}\n`)
}
