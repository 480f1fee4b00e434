import { writeSync } from 'node:fs'
import { Option } from 'commander'
import { pino, type Level, type Logger } from 'pino'
import { prettyFactory } from 'pino-pretty'
import type { ProcessRole } from './metrics'

/**
 * Structured logs of the headless processes, with pino: one JSON line per event on stderr (level, time,
 * role, the worker/gateway id and the request or batch id where there is one), readable lines instead
 * when stderr is a terminal. Secrets never reach the output: fields named like one are redacted, and
 * every line is scrubbed of URL credentials and of the secrets the process registered (addSecret).
 */

export type { Logger } from 'pino'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** `--log-level`, the same on every command. */
export const logLevelOption = () =>
  new Option('--log-level <level>', 'least important log level written to stderr')
    .choices(LOG_LEVELS)
    .default('info')

/** Field paths whose values are secrets, wherever a log call puts them. */
const REDACT_PATHS = [
  'password',
  '*.password',
  'postgresPassword',
  'redisPassword',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
]

const secrets = new Set<string>()
/**
 * Every form of every secret in one pattern, longest first, made again only when a secret is added: the
 * gateway logs a line per request, and compiling a pattern per secret per line cost more than the line.
 */
let secretPattern: RegExp | null | undefined

/** A secret this process holds (a password, an API key): never written to the log, wherever it appears. */
export function addSecret(value: string | undefined): void {
  // Very short values would blank out ordinary words; nobody's password is two letters.
  if (value !== undefined && value.length >= 4 && !secrets.has(value)) {
    secrets.add(value)
    secretPattern = undefined
  }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

function secretsPattern(): RegExp | null {
  if (secretPattern === undefined) {
    const forms = new Set<string>()
    for (const secret of secrets)
      for (const form of [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)])
        forms.add(form)
    secretPattern =
      forms.size === 0
        ? null
        : new RegExp(
            [...forms]
              .sort((a, b) => b.length - a.length)
              .map(escapeRegExp)
              .join('|'),
            'g',
          )
  }
  return secretPattern
}

/**
 * The text without credentials: `scheme://user:password@` keeps the user, `password=…` in a DSN or query
 * string, `Bearer …` tokens and every registered secret (also as JSON would escape it) become `***`.
 */
export function scrubSecrets(text: string): string {
  let clean = text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s/@:"']*):([^\s/@"']*)@/gi, '$1$2:***@')
    .replace(/\b(password|passwd|pwd|api[_-]?key)(=|:\s*)([^\s&;,"']+)/gi, '$1$2***')
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, '$1 ***')
  const pattern = secretsPattern()
  if (pattern !== null) clean = clean.replace(pattern, '***')
  return clean
}

export interface LoggerOptions {
  role: ProcessRole | 'replay'
  level?: LogLevel | Level
  /** Readable lines instead of JSON (default: when stderr is a terminal). */
  pretty?: boolean
  /** Where lines go (default: stderr, written synchronously so nothing is lost at exit). */
  write?: (line: string) => void
}

export function createLogger({ role, level = 'info', pretty, write }: LoggerOptions): Logger {
  const out = write ?? ((line: string) => void writeSync(2, line))
  const prettify =
    (pretty ?? process.stderr.isTTY === true)
      ? prettyFactory({ colorize: process.stderr.isTTY === true, translateTime: 'SYS:HH:MM:ss.l' })
      : undefined
  return pino(
    {
      level,
      base: { role, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '***' },
    },
    {
      write(line: string) {
        const clean = scrubSecrets(line)
        out(prettify === undefined ? clean : prettify(clean))
      },
    },
  )
}

/**
 * For the modules that log lines (`log?: (line) => void`): each line a warning of this logger, with the
 * fields a caller may add (`{ batch: 12 }`).
 */
export const lineLogger =
  (logger: Logger, level: Exclude<LogLevel, 'silent'> = 'warn') =>
  (line: string, fields?: Record<string, unknown>) =>
    fields === undefined ? logger[level](line) : logger[level](fields, line)
