import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './private-servers'

/**
 * The real Prometheus (Debian's `prometheus` package: /usr/bin/prometheus and /usr/bin/promtool) for the
 * ops tests. A missing binary fails the test with what to install: it is never a skip.
 */

export const ALERT_RULES = 'docs/ops/alerts.yml'

export function prometheusBinary(name: 'prometheus' | 'promtool'): string {
  const path = process.env[`AETHER_TEST_${name.toUpperCase()}`] ?? `/usr/bin/${name}`
  if (!existsSync(path))
    throw new Error(
      `${path} is missing: the ops tests need Prometheus' own ${name}. Install Debian's package (apt-get install prometheus), as .ci/run does, or set AETHER_TEST_${name.toUpperCase()}.`,
    )
  return path
}

/** `promtool` with these arguments: its exit code and everything it printed. */
export async function promtool(args: string[], stdin?: string): Promise<{ code: number; output: string }> {
  const binary = prometheusBinary('promtool')
  return new Promise((resolve) => {
    const child = execFile(binary, args, { timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({
        code: error === null ? 0 : Number((error as { code?: number }).code ?? 1),
        output: stdout + stderr,
      }),
    )
    if (stdin !== undefined) child.stdin?.end(stdin)
  })
}

/**
 * The alert rules with their durations made short for a test: every `for:` becomes `forSeconds`, every
 * range `[5m]` becomes `[rangeSeconds]`. The expressions themselves are the shipped ones.
 */
export async function shortRules(forSeconds: number, rangeSeconds: number): Promise<string> {
  const rules = await readFile(ALERT_RULES, 'utf8')
  return rules
    .replace(/^(\s*for:\s*)\d+[smh]$/gm, `$1${forSeconds}s`)
    .replace(/\[\d+[smh]\]/g, `[${rangeSeconds}s]`)
}

export interface RunningPrometheus {
  url: string
  output(): string
  /** GET /api/v1/<path> → data. */
  api<T>(path: string): Promise<T>
  stop(): Promise<void>
}

export interface PrometheusAlert {
  labels: Record<string, string>
  state: 'pending' | 'firing'
  value: string
}

export interface PrometheusTarget {
  labels: Record<string, string>
  health: 'up' | 'down' | 'unknown'
  lastError: string
}

/** Prometheus on a free loopback port with its own data folder, scraping and evaluating every second. */
export async function startPrometheus({
  job,
  targets,
  rules,
}: {
  job: string
  targets: string[]
  rules: string
}): Promise<RunningPrometheus> {
  const binary = prometheusBinary('prometheus')
  const dir = await mkdtemp(join(tmpdir(), 'aether-prometheus-'))
  await writeFile(join(dir, 'rules.yml'), rules)
  await writeFile(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'rule_files: [rules.yml]',
      'scrape_configs:',
      `  - job_name: ${job}`,
      '    static_configs:',
      `      - targets: [${targets.map((target) => `'${target}'`).join(', ')}]`,
      '',
    ].join('\n'),
  )
  const port = await freePort()
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}/api/v1/${path}`)
    const body = (await response.json()) as { status: string; data: T; error?: string }
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? response.status}`)
    return body.data
  }
  const stop = async () => {
    child.kill('SIGTERM')
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))])
    if (child.exitCode === null) child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then(
      (response) => response.ok,
      () => false,
    )
    if (ready) break
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop()
      throw new Error(`Prometheus did not start:\n${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return { url, output: () => output, api, stop }
}
