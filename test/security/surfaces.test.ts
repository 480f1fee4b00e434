import { mkdtemp, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { ORPCError } from '@orpc/client'
import { isContractProcedure } from '@orpc/contract'
import { afterAll, beforeAll, describe, it } from 'vitest'
import type { z } from 'zod'
import { createRouter } from '../../src/main/core/router'
import { MAX_FRAME_BYTES, startHost, type Host } from '../../src/main/host/server'
import { contract } from '../../src/shared/contract'
import { contractOverWebSocket, upgradeStatus } from '../support/host-client'
import { openTestWorkstation, type TestWorkstation } from '../support/workstation'
import { attempt, failsWith, type Outcome } from './support/attempts'

/**
 * The surfaces a hostile page or local process can reach: the loopback host (token, Host, Origin,
 * frame size), and the contract behind both transports (size limits on every input, no internals in
 * errors).
 */

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
  await host?.close()
  await opened?.dispose()
})

/** Refused when the host answers with one of these HTTP statuses. */
async function httpRefused(
  statuses: number[],
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
) {
  const status = await new Promise<number>((resolve, reject) => {
    const sent = request(`${host.origin}${path}`, { method, headers }, (response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    })
    sent.on('error', reject)
    sent.end()
  })
  return statuses.includes(status)
    ? { refused: true, detail: `HTTP ${status}` }
    : { refused: false, detail: `HTTP ${status}` }
}

/** The status the host answers a WebSocket upgrade with (101: accepted). */
const upgradeRefused = async (status: number, path: string, headers: Record<string, string>) => {
  const answered = await upgradeStatus(host, path, headers)
  return answered === status
    ? { refused: true, detail: `HTTP ${answered}` }
    : { refused: false, detail: `HTTP ${answered}` }
}

describe('the loopback host', () => {
  const token = () => `?token=${host.token}`
  const http: [string, () => Promise<Outcome>][] = [
    ['opens the app without the token', () => httpRefused([401], '/')],
    ['opens the app with a wrong token', () => httpRefused([401], '/?token=guessed')],
    [
      'opens the app with a forged session cookie',
      () => httpRefused([401], '/', { Cookie: 'aether_session=guessed' }),
    ],
    [
      'reaches the host under a foreign host name (DNS rebinding)',
      () => httpRefused([421], `/${token()}`, { Host: 'attacker.example' }),
    ],
    ['posts to the host', () => httpRefused([405], `/${token()}`, {}, 'POST')],
  ]
  for (const [action, run] of http) it(`a local page ${action}`, () => attempt(`host: ${action}`, run))

  const upgrades: [string, number, () => string, () => Record<string, string>][] = [
    ['opens the contract socket without the token', 401, () => '/rpc', () => ({ Origin: host.origin })],
    [
      'opens the contract socket with a wrong token',
      401,
      () => '/rpc?token=guessed',
      () => ({ Origin: host.origin }),
    ],
    ['opens the contract socket without an Origin', 403, () => `/rpc?token=${host.token}`, () => ({})],
    [
      'opens the contract socket from a foreign Origin',
      403,
      () => `/rpc?token=${host.token}`,
      () => ({ Origin: 'https://evil.example' }),
    ],
    [
      'opens the contract socket from another loopback port',
      403,
      () => `/rpc?token=${host.token}`,
      () => ({ Origin: `http://127.0.0.1:${host.port + 1}` }),
    ],
    [
      'opens the contract socket under a foreign host name',
      421,
      () => `/rpc?token=${host.token}`,
      () => ({ Origin: host.origin, Host: 'attacker.example' }),
    ],
  ]
  for (const [action, status, path, headers] of upgrades)
    it(`a local page ${action}`, () =>
      attempt(`host: ${action}`, () => upgradeRefused(status, path(), headers())))

  it('a local server the browser sent the page’s cookie opens the contract socket with it', async () => {
    // Browsers send a 127.0.0.1 cookie to every port of it: the cookie must open nothing.
    const page = await fetch(`${host.origin}/${token()}`)
    const cookie = page.headers.get('set-cookie')?.split(';')[0] ?? ''
    await attempt('host: the contract socket opened with the page’s cookie', () =>
      upgradeRefused(401, '/rpc', { Origin: host.origin, Cookie: cookie }),
    )
  })

  it('a client sends a frame over the size limit', async () => {
    const { websocket } = await contractOverWebSocket(host)
    websocket.on('error', () => {})
    const closed = new Promise<number>((resolve) => websocket.once('close', (code) => resolve(code)))
    websocket.send('x'.repeat(MAX_FRAME_BYTES + 1))
    await attempt('host: a frame over 1 MiB', async () => {
      const code = await closed
      return code === 1009
        ? { refused: true, detail: 'closed with 1009 (message too big)' }
        : { refused: false, detail: `closed with ${code}` }
    })
  })

  it('a client on the network reaches the host', async ({ skip }) => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address !== undefined && address.family === 'IPv4' && !address.internal)
    if (external === undefined) return skip('this machine has no non-loopback IPv4 address to try from')
    await attempt('host: reached on a non-loopback address', () =>
      failsWith(['ECONNREFUSED'], () =>
        fetch(`http://${external.address}:${host.port}/`).catch((error: { cause?: unknown }) => {
          throw error.cause ?? error
        }),
      ),
    )
  })
})

/** Every string and array in an input schema, with whether it has a maximum size. */
function unboundedFields(schema: z.ZodType, path: string): string[] {
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string; checks?: z.ZodType[] }
  const limited = (def.checks ?? []).some((check) => {
    const kind = (check._zod.def as { check?: string }).check
    return kind === 'max_length' || kind === 'length_equals'
  })
  const child = (key: string) => def[key] as z.ZodType
  switch (def.type) {
    case 'string': {
      const format = (def as { format?: string }).format
      const fixed = ['uuid', 'guid', 'ipv4', 'ipv6', 'cidrv4', 'cidrv6', 'datetime', 'date', 'time']
      return limited || (format !== undefined && fixed.includes(format)) ? [] : [path]
    }
    case 'array':
      return [...(limited ? [] : [path]), ...unboundedFields(child('element'), `${path}[]`)]
    case 'object':
      return Object.entries(def.shape as Record<string, z.ZodType>).flatMap(([key, value]) =>
        unboundedFields(value, path === '' ? key : `${path}.${key}`),
      )
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return unboundedFields(child('innerType'), path)
    case 'pipe':
      return unboundedFields(child('in'), path)
    case 'union':
      return (def.options as z.ZodType[]).flatMap((option) => unboundedFields(option, path))
    case 'intersection':
      return [...unboundedFields(child('left'), path), ...unboundedFields(child('right'), path)]
    case 'tuple':
      return (def.items as z.ZodType[]).flatMap((item, index) => unboundedFields(item, `${path}[${index}]`))
    case 'record':
      // A record is bounded when its keys and values are, and a refinement caps how many it holds.
      return [
        ...((def.checks ?? []).length > 0 ? [] : [`${path} (record with no cap on its entries)`]),
        ...unboundedFields(child('keyType'), `${path}{key}`),
        ...unboundedFields(child('valueType'), `${path}{}`),
      ]
    case 'map':
    case 'set':
    case 'any':
    case 'unknown':
    case 'custom':
    case 'lazy':
      return [`${path} (${def.type})`]
    default:
      return []
  }
}

function procedures(router: object, path: string[] = []): [string, z.ZodType | undefined][] {
  if (isContractProcedure(router))
    return [[path.join('.'), router['~orpc'].inputSchema as z.ZodType | undefined]]
  return Object.entries(router).flatMap(([key, value]) => procedures(value as object, [...path, key]))
}

describe('the contract', () => {
  for (const [name, input] of procedures(contract).filter(([, schema]) => schema !== undefined))
    it(`${name} bounds every string and array of its input`, () =>
      attempt(`contract: ${name} takes an input of unbounded size`, async () => {
        const unbounded = unboundedFields(input as z.ZodType, '')
        return unbounded.length === 0
          ? { refused: true, detail: 'every string and array has a maximum' }
          : { refused: false, detail: `no maximum on ${unbounded.join(', ')}` }
      }))

  it('refuses oversized values at the door, over the real transport', async () => {
    const { client, websocket } = await contractOverWebSocket(host)
    const huge = 'x'.repeat(200_000)
    const oversized: [string, () => Promise<unknown>][] = [
      [
        'a profile name of 200,000 characters',
        () =>
          client.profiles.create({ name: huge, postgresUrl: 'postgres://a@b/c', redisUrl: 'redis://b:6379' }),
      ],
      [
        'a sign-in password of 200,000 characters',
        () => client.session.signIn({ profileId: 'local', password: huge }),
      ],
      [
        'an analyst name of 200,000 characters',
        () => client.session.analysts.add({ login: 'x', displayName: huge, role: 'analyst', password: huge }),
      ],
    ]
    for (const [value, call] of oversized)
      await attempt(`contract: accepts ${value}`, () => failsWith(['BAD_REQUEST'], call))
    websocket.close()
  })

  it('answers an unexpected failure with a sentence, never a stack trace or a path', async () => {
    // A corrupt profiles file makes every profiles call fail in a way no handler expects.
    await writeFile(join(opened.dataDir, 'profiles.json'), '{ "version": 1, "profiles": [ truncated')
    const { client, websocket } = await contractOverWebSocket(host)
    await attempt('contract: an internal error shows its stack or file paths to the UI', async () => {
      const error = await client.profiles.list().catch((caught: unknown) => caught)
      if (!(error instanceof ORPCError)) return { refused: false, detail: 'the call did not fail' }
      const wire = JSON.stringify(error.toJSON())
      const leaks = /\bat .+:\d+|\/work\/|profiles\.json|SyntaxError|node:/i.test(wire)
      return !leaks && error.code === 'INTERNAL_SERVER_ERROR'
        ? { refused: true, detail: `the UI gets: ${error.message}` }
        : { refused: false, detail: `the UI gets: ${wire}` }
    })
    websocket.close()
  })
})
