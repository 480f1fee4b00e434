import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'

/** PostgreSQL's default (scram_iterations) for new passwords. */
const ITERATIONS = 4096

/** RFC 3454 C.1.2, non-ASCII spaces, become a plain space (as PostgreSQL and pg do). */
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g
/** RFC 3454 B.1, "commonly mapped to nothing". */
const MAPPED_TO_NOTHING = new Set([
  0x00ad,
  0x034f,
  0x1806,
  0x180b,
  0x180c,
  0x180d,
  0x200c,
  0x200d,
  0x2060,
  0xfeff,
  ...Array.from({ length: 16 }, (_, index) => 0xfe00 + index),
])

/** The SASLprep steps that change bytes, the same as the server and the pg client apply. */
export function saslPrep(password: string): string {
  const spaced = password.replace(NON_ASCII_SPACE, ' ')
  return [...spaced]
    .filter((character) => !MAPPED_TO_NOTHING.has(character.codePointAt(0) ?? 0))
    .join('')
    .normalize('NFKC')
}

/**
 * A SCRAM-SHA-256 verifier (RFC 5802/7677) in PostgreSQL's rolpassword format. Computed here so that
 * `CREATE ROLE … PASSWORD` receives the verifier, never the password: it cannot leak into the server's
 * statement log, pg_stat_statements or a network capture.
 */
export function scramVerifier(
  password: string,
  salt: Buffer = randomBytes(16),
  iterations = ITERATIONS,
): string {
  const salted = pbkdf2Sync(saslPrep(password), salt, iterations, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}
