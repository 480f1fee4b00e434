import { mkdtemp, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { MessageChannel } from 'node:worker_threads'
import { createORPCClient, ORPCError } from '@orpc/client'
import { RPCLink as MessagePortLink } from '@orpc/client/message-port'
import type { ContractRouterClient } from '@orpc/contract'
import { RPCHandler as MessagePortHandler } from '@orpc/server/message-port'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Contract } from '../../src/shared/contract'
import { createRouter } from '../../src/main/core/router'
import { MAX_FRAME_BYTES, startHost, type Host } from '../../src/main/host/server'
import { contractOverWebSocket, upgradeStatus } from '../support/host-client'
import { openTestWorkstation, type TestWorkstation } from '../support/workstation'

let host: Host
let opened: TestWorkstation

beforeAll(async () => {
  opened = await openTestWorkstation()
  await opened.workstation.start()
  const rendererDir = await mkdtemp(join(tmpdir(), 'aether-renderer-'))
  await writeFile(join(rendererDir, 'index.html'), '<!doctype html><title>Aether</title>')
  host = await startHost({ router: createRouter(opened.workstation), rendererDir })
})

afterAll(async () => {
  await host.close()
  await opened.dispose()
})

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${host.origin}${path}`, { headers, redirect: 'manual' })

const upgrade = (headers: Record<string, string>, query = `?token=${host.token}`) =>
  upgradeStatus(host, `/rpc${query}`, headers)

describe('the loopback host over HTTP', () => {
  it('refuses a request without the token', async () => {
    const response = await get('/')
    expect(response.status).toBe(401)
    expect(await response.text()).toMatch(/token/)
  })

  it('refuses a wrong token', async () => {
    expect((await get('/?token=not-the-token')).status).toBe(401)
    expect((await get('/', { Cookie: 'aether_session=not-the-token' })).status).toBe(401)
  })

  it('serves the app at the token’s URL, with a cookie for its files that is not the token', async () => {
    const first = await get(`/?token=${host.token}`)
    expect(first.status).toBe(200)
    expect(await first.text()).toContain('<title>Aether</title>')
    const cookie = first.headers.get('set-cookie') ?? ''
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/SameSite=Strict/)
    expect(cookie).not.toContain(host.token)
    const page = await get('/', { Cookie: cookie.split(';')[0] ?? '' })
    expect(page.status).toBe(200)
    expect(page.headers.get('x-frame-options')).toBe('DENY')
    expect(await page.text()).toContain('<title>Aether</title>')
    // Browsers send a 127.0.0.1 cookie to every port of it, so any local server may hold this one: it
    // opens no contract socket.
    expect(await upgrade({ Origin: host.origin, Cookie: cookie.split(';')[0] ?? '' }, '')).toBe(401)
  })

  it('refuses foreign host names (DNS rebinding) and methods other than GET', async () => {
    const rebinding = await new Promise<number>((resolve, reject) => {
      const sent = request(
        `${host.origin}/?token=${host.token}`,
        { headers: { Host: 'attacker.example' } },
        (response) => {
          response.resume()
          resolve(response.statusCode ?? 0)
        },
      )
      sent.on('error', reject)
      sent.end()
    })
    expect(rebinding).toBe(421)
    const post = await fetch(`${host.origin}/?token=${host.token}`, { method: 'POST', body: 'x' })
    expect(post.status).toBe(405)
  })

  it('never serves a file outside the renderer folder', async () => {
    const cookie = (await get(`/?token=${host.token}`)).headers.get('set-cookie')?.split(';')[0] ?? ''
    const traversal = await get('/..%2F..%2F..%2F..%2Fetc%2Fpasswd', { Cookie: cookie })
    expect(await traversal.text()).not.toContain('root:')
  })

  it('answers a malformed percent escape with 400, not a server error', async () => {
    const cookie = (await get(`/?token=${host.token}`)).headers.get('set-cookie')?.split(';')[0] ?? ''
    for (const path of ['/%E0%A4%A', '/%', '/a%2', '/%00']) {
      const response = await get(path, { Cookie: cookie })
      expect(response.status, path).toBe(400)
      expect(await response.text(), path).toMatch(/^Malformed path/)
    }
    // The host keeps serving afterwards.
    expect((await get('/', { Cookie: cookie })).status).toBe(200)
  })

  it('listens on the loopback address only', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address !== undefined && address.family === 'IPv4' && !address.internal)
    expect(host.url.startsWith('http://127.0.0.1:')).toBe(true)
    if (external === undefined) return
    await expect(fetch(`http://${external.address}:${host.port}/?token=${host.token}`)).rejects.toThrow()
  })
})

describe('the contract over WebSocket', () => {
  it('refuses a socket from a foreign Origin, without an Origin, or without the token', async () => {
    expect(await upgrade({ Origin: 'https://evil.example' })).toBe(403)
    expect(await upgrade({ Origin: `http://127.0.0.1:${host.port + 1}` })).toBe(403)
    expect(await upgrade({})).toBe(403)
    expect(await upgrade({ Origin: host.origin }, '')).toBe(401)
    expect(await upgrade({ Origin: host.origin })).toBe(101)
  })

  it('answers a well-typed call', async () => {
    const { client, websocket } = await contractOverWebSocket(host)
    const status = await client.app.status()
    expect(status).toMatchObject({ state: 'ready', mode: 'local', store: { engine: 'pglite' } })
    websocket.close()
  })

  it('refuses an ill-typed call with a validation error naming the field', async () => {
    const { client, websocket } = await contractOverWebSocket(host)
    const call = client.profiles.create({
      name: 42,
      postgresUrl: 'not a url',
      redisUrl: 'redis://127.0.0.1:6379',
    } as never)
    const error = await call.catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ORPCError)
    expect((error as ORPCError<string, { issues: { path: string[] }[] }>).code).toBe('BAD_REQUEST')
    const paths = (error as ORPCError<string, { issues: { path: string[] }[] }>).data.issues.map((issue) =>
      issue.path.join('.'),
    )
    expect(paths).toEqual(expect.arrayContaining(['name', 'postgresUrl']))
    expect((await opened.workstation.profiles.list()).profiles).toHaveLength(1)
    websocket.close()
  })

  it('closes the socket on a frame over the size limit', async () => {
    const { websocket } = await contractOverWebSocket(host)
    websocket.on('error', () => {})
    const closed = new Promise<number>((resolve) => websocket.once('close', (code) => resolve(code)))
    websocket.send('x'.repeat(MAX_FRAME_BYTES + 1))
    expect(await closed).toBe(1009)
  })
})

describe('the contract over a message port (the Electron transport)', () => {
  it('serves the same router, with the same validation', async () => {
    const { port1, port2 } = new MessageChannel()
    new MessagePortHandler(createRouter(opened.workstation)).upgrade(port2)
    port2.start()
    const client: ContractRouterClient<Contract> = createORPCClient(new MessagePortLink({ port: port1 }))
    port1.start()
    expect((await client.app.status()).state).toBe('ready')
    const error = await client.profiles.activate({ id: '' }).catch((caught: unknown) => caught)
    expect((error as ORPCError<string, unknown>).code).toBe('BAD_REQUEST')
    const missing = await client.profiles
      .activate({ id: 'no-such-profile' })
      .catch((caught: unknown) => caught)
    expect((missing as ORPCError<string, unknown>).code).toBe('NOT_FOUND')
    expect((missing as Error).message).toMatch(/no connection profile/)
    port1.close()
  })
})
