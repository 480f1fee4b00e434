import { describe, expect, it } from 'vitest'
import { scramVerifier } from './scram'

/** Verifiers PostgreSQL 15 stored for these passwords (SELECT rolpassword FROM pg_authid). */
const FROM_POSTGRES = [
  {
    password: 'correct horse battery staple',
    verifier:
      'SCRAM-SHA-256$4096:CuCBNbRpXdf79Tp1Qztm7Q==$zXHuut1C734A9qUbYnfyL3NROEuLug+B3ebJelcLO7s=:d2Xb4TU4WNPhLFJadaNUdQXa41lUA3omjHuHDWIY/rA=',
  },
  {
    password: 'pässwörd ✓',
    verifier:
      'SCRAM-SHA-256$4096:fXzvtpabZbzK/oI9hqB5WA==$vb+UFUF4VibeHeILGYS+NVCJBmKFlnDPwzLBDd2mQFQ=:0GE8YocbTWlfNjgaU5+dA5hdGEGHMIGhh1b+Lo7d5Nw=',
  },
]

const saltOf = (verifier: string) => Buffer.from(/\$\d+:([^$]+)\$/.exec(verifier)?.[1] ?? '', 'base64')

describe('scramVerifier', () => {
  it.each(FROM_POSTGRES)(
    'computes the verifier PostgreSQL computes for "$password"',
    ({ password, verifier }) => {
      expect(scramVerifier(password, saltOf(verifier))).toBe(verifier)
    },
  )

  it('salts every verifier afresh, so equal passwords do not look equal', () => {
    expect(scramVerifier('same password')).not.toBe(scramVerifier('same password'))
  })

  it('normalizes the password as the server does (NFKC), so a decomposed "ä" still signs in', () => {
    const { password, verifier } = FROM_POSTGRES[1] ?? { password: '', verifier: '' }
    expect(scramVerifier(password.normalize('NFD'), saltOf(verifier))).toBe(verifier)
  })
})
