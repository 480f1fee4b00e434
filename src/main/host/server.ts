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
 * 127.0.0.1 only. Like Jupyter, every launch has a random token, given in the printed URL. Host and
 * Origin are checked so other sites and DNS rebinding cannot reach it.
 *
 * The contract socket takes the token itself (`/rpc?token=`), which the page keeps in its tab's
 * sessionStorage (per origin, so per port). A cookie only lets the browser load the page's files on a
 * reload: browsers send a 127.0.0.1 cookie to every port of 127.0.0.1, so any other local server the
 * browser visits receives it, and a cookie that opened the socket handed that server the whole contract
 * (profiles, credentials, triage). The files are the public build; the cookie is not the token.
 */
export async function startHost(options: HostOptions): Promise<Host> {
  const token = options.token ?? randomBytes(32).toString('base64url')
  // What the cookie carries: a secret of its own, worth the page's files and nothing else.
  const pageSecret = randomBytes(32).toString('base64url')
  const handler = new RPCHandler(options.router)
  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES })
  let allowedHosts = new Set<string>()
  let allowedOrigins = new Set<string>()

  const hasToken = (url: URL) => sameSecret(url.searchParams.get('token') ?? undefined, token)
  const mayLoadPage = (request: IncomingMessage, url: URL) =>
    sameSecret(cookieValue(request), pageSecret) || hasToken(url)

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
    if (!mayLoadPage(request, url))
      return refuse(response, 401, 'Missing or wrong token: open the URL that `aether serve` printed.')
    // The page is served at the token's URL itself (no redirect): its script keeps the token and takes
    // it out of the address bar.
    const cookie = hasToken(url)
      ? { 'Set-Cookie': `${COOKIE}=${pageSecret}; HttpOnly; SameSite=Strict; Path=/` }
      : undefined
    await serveFile(url.pathname, response, cookie)
  }

  async function serveFile(pathname: string, response: ServerResponse, extra: Record<string, string> = {}) {
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
      ...extra,
    })
    // A file that goes away between the stat and the read ends this answer, not the host.
    createReadStream(file)
      .on('error', () => response.destroy())
      .pipe(response)
  }

  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1')
    const reject = (status: number, reason: string) => {
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    if (!allowedHosts.has(request.headers.host ?? '')) return reject(421, 'Misdirected Request')
    if (url.pathname !== '/rpc') return reject(404, 'Not Found')
    if (!allowedOrigins.has(request.headers.origin ?? '')) return reject(403, 'Forbidden')
    if (!hasToken(url)) return reject(401, 'Unauthorized')
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
