import { describe, expect, it } from 'vitest'
import { addSecret, createLogger, scrubSecrets } from './log'

const capture = (level: 'info' | 'warn' = 'info') => {
  const lines: string[] = []
  const logger = createLogger({ role: 'worker', level, pretty: false, write: (line) => lines.push(line) })
  return { logger, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) }
}

describe('scrubSecrets', () => {
  it('keeps the user of a URL and hides its password', () => {
    expect(scrubSecrets('connect to postgres://aether:hunter2@db:5432/team failed')).toBe(
      'connect to postgres://aether:***@db:5432/team failed',
    )
    expect(scrubSecrets('redis://:s3cr3t@127.0.0.1:6379')).toBe('redis://:***@127.0.0.1:6379')
  })

  it('hides password= in connection strings and bearer tokens', () => {
    expect(scrubSecrets('host=db password=hunter2 user=x')).toBe('host=db password=*** user=x')
    expect(scrubSecrets('Authorization: Bearer abcdefghijklmnop')).toBe('Authorization: Bearer ***')
  })

  it('hides a registered secret wherever it appears, also as JSON escapes it', () => {
    addSecret('pa"ss\\word-77')
    expect(scrubSecrets('the password was pa"ss\\word-77 here')).toBe('the password was *** here')
    expect(scrubSecrets(JSON.stringify({ note: 'pa"ss\\word-77' }))).toBe('{"note":"***"}')
  })

  it('hides a secret added after lines were scrubbed, and a secret that contains another whole', () => {
    expect(scrubSecrets('key aek_later_added_0001 and aek_later_added_0001_long')).toContain('aek_later')
    addSecret('aek_later_added_0001')
    addSecret('aek_later_added_0001_long')
    expect(scrubSecrets('key aek_later_added_0001 and aek_later_added_0001_long')).toBe('key *** and ***')
    expect(scrubSecrets(encodeURIComponent('x/aek_later_added_0001_long?'))).toBe(
      encodeURIComponent('x/') + '***' + encodeURIComponent('?'),
    )
  })
})

describe('createLogger', () => {
  it('writes JSON lines with level, time and role, and the bindings of a child', () => {
    const { logger, records } = capture()
    logger.child({ worker: 'w-1' }).info({ batch: 42 }, 'stored')
    expect(records()).toEqual([
      expect.objectContaining({ level: 'info', role: 'worker', worker: 'w-1', batch: 42, msg: 'stored' }),
    ])
    expect(Number.isNaN(Date.parse(String(records()[0]?.time)))).toBe(false)
  })

  it('redacts secret fields and scrubs messages', () => {
    const { logger, records } = capture()
    logger.info(
      { password: 'x1y2z3', config: { apiKey: 'ak_123456789' }, url: 'postgres://u:pw1234@h/db' },
      'opening postgres://u:pw1234@h/db',
    )
    const [record] = records()
    expect(record).toMatchObject({
      password: '***',
      config: { apiKey: '***' },
      url: 'postgres://u:***@h/db',
      msg: 'opening postgres://u:***@h/db',
    })
  })

  it('writes nothing below its level', () => {
    const { logger, records } = capture('warn')
    logger.info('not this')
    logger.warn('this')
    expect(records().map((record) => record.msg)).toEqual(['this'])
  })
})
