import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createApiKey,
  freshTransaction,
  gatewayArgs,
  gatewayCommand,
  ingestLogin,
  spawnGateway,
} from '../support/gateway'
import { deleteKeys, migratedDatabase, testLayout } from '../support/pipeline'
import { createTestDatabase, SHARED_REDIS_URL, type TestDatabase } from '../support/services'

/**
 * `aether gateway --tls-cert --tls-key`: a real gateway process serving HTTPS with a certificate made
 * here by openssl. A client trusting that certificate gets its decision; one that does not, or that
 * speaks plain HTTP to the port, gets nothing in; a certificate that is missing, not a file, not PEM or
 * not the key's is a startup error naming the file.
 */

const run = promisify(execFile)
const cleanups: (() => Promise<unknown>)[] = []
const layout = testLayout(2)
let database: TestDatabase
let dir: string
let baseArgs: string[]
let certPath: string
let keyPath: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aether-gateway-tls-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  certPath = join(dir, 'cert.pem')
  keyPath = join(dir, 'key.pem')
  const selfSigned = (cert: string, key: string) =>
    run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ])
  await selfSigned(certPath, keyPath)
  // Another pair: its key is not the first certificate's.
  await selfSigned(join(dir, 'other-cert.pem'), join(dir, 'other-key.pem'))

  database = await createTestDatabase('aether_gwtls')
  cleanups.push(() => database.drop())
  await migratedDatabase(database.url)
  const login = await ingestLogin(database.url)
  cleanups.push(() => login.drop())
  cleanups.push(() => deleteKeys(SHARED_REDIS_URL, layout.prefix))
  // No worker runs: decisions are provisional, after this budget.
  baseArgs = gatewayArgs({ postgresUrl: login.url, layout, budgetMs: 20 })
}, 90_000)

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

interface Answer {
  status: number
  body: Record<string, unknown>
}

/** One request with node:https (or node:http), trusting `ca` when given. */
function send(
  url: string,
  method: 'GET' | 'POST',
  key: string,
  body?: unknown,
  ca?: Buffer,
): Promise<Answer> {
  const target = new URL(url)
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const outgoing = request(
      target,
      {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(ca !== undefined ? { ca } : {}),
        timeout: 20_000,
      },
      (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (text += chunk))
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }),
        )
        response.on('error', reject)
      },
    )
    outgoing.on('timeout', () => outgoing.destroy(new Error('no answer within 20 s')))
    outgoing.on('error', reject)
    outgoing.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

/** `aether gateway …` expected to refuse to start: its exit code and what it said. */
function failedStart(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      gatewayCommand([...baseArgs, ...args]),
      { timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : Number(error.code ?? 1), output: stdout + stderr }),
    )
  })
}

describe('aether gateway over TLS', () => {
  it('answers over HTTPS to a client trusting its certificate, and takes nothing over plain HTTP', async () => {
    const key = await createApiKey(database.url, 'tls-client')
    const gateway = spawnGateway([...baseArgs, '--tls-cert', certPath, '--tls-key', keyPath])
    cleanups.push(() => gateway.stop())
    const url = await gateway.url
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const ca = await readFile(certPath)

    const txn = freshTransaction()
    const decided = await send(`${url}/v1/transactions`, 'POST', key, txn, ca)
    expect(decided.status).toBe(200)
    expect(decided.body).toMatchObject({ txn_id: txn.txn_id, final: false })
    expect(['approve', 'review', 'block']).toContain(decided.body.decision)

    // Without the certificate trusted, the client refuses the gateway: the handshake is real TLS.
    await expect(send(`${url}/v1/transactions/${txn.txn_id}`, 'GET', key)).rejects.toMatchObject({
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
    })

    // Plain HTTP to the TLS port: no answer at all, and the transaction it carried is not taken.
    const plain = freshTransaction()
    const plainUrl = url.replace(/^https:/, 'http:')
    await expect(send(`${plainUrl}/v1/transactions`, 'POST', key, plain)).rejects.toThrow(
      /socket hang up|ECONNRESET|Parse Error/,
    )
    const lookup = await send(`${url}/v1/transactions/${plain.txn_id}`, 'GET', key, undefined, ca)
    expect(lookup.status).toBe(404)
    // The gateway still serves HTTPS after it.
    const stored = await send(`${url}/v1/transactions/${txn.txn_id}`, 'GET', key, undefined, ca)
    expect(stored.status).toBe(200)
    expect(stored.body.txn_id).toBe(txn.txn_id)
  }, 180_000)

  it('refuses to start on a certificate or key it cannot use, naming the file', async () => {
    const missing = join(dir, 'missing.pem')
    const cases: [string[], RegExp][] = [
      [
        ['--tls-cert', missing, '--tls-key', keyPath],
        new RegExp(`^aether: --tls-cert ${missing} cannot be read: no such file$`, 'm'),
      ],
      [
        ['--tls-cert', certPath, '--tls-key', dir],
        new RegExp(`^aether: --tls-key ${dir} cannot be read: it is a directory$`, 'm'),
      ],
      [
        ['--tls-cert', keyPath, '--tls-key', keyPath],
        new RegExp(`^aether: --tls-cert ${keyPath} is not a PEM certificate`, 'm'),
      ],
      [
        ['--tls-cert', certPath, '--tls-key', join(dir, 'other-key.pem')],
        new RegExp(
          `^aether: --tls-key ${dir}/other-key.pem is not the private key of --tls-cert ${certPath}`,
          'm',
        ),
      ],
      [['--tls-cert', certPath], /^aether: --tls-cert and --tls-key go together$/m],
    ]
    // One at a time: each starts TypeScript from source, slow on a busy machine.
    for (const [args, said] of cases) {
      const started = await failedStart(args)
      expect(started.code, started.output).not.toBe(0)
      expect(started.output).toMatch(said)
      expect(started.output).not.toMatch(/Decision API at/)
    }
  }, 600_000)
})
