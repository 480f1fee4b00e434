import { describe, expect, it } from 'vitest'
import { describePersistence } from './redis-persistence'

/** What each Redis persistence setting means for accepted entries; real servers in test/integration. */

describe('describePersistence', () => {
  it('accepts AOF with everysec or always, saying what a crash loses', () => {
    const everysec = describePersistence({ aofEnabled: true, appendfsync: 'everysec' })
    expect(everysec).toMatchObject({ mode: 'aof', fsync: 'everysec', warning: undefined })
    expect(everysec.summary).toMatch(/up to about 1 s/)
    expect(describePersistence({ aofEnabled: true, appendfsync: 'always' }).summary).toMatch(
      /survives any crash/,
    )
  })

  it('warns about AOF without fsync, RDB snapshots only, and no persistence at all', () => {
    expect(describePersistence({ aofEnabled: true, appendfsync: 'no' }).warning).toMatch(/everysec/)
    const rdb = describePersistence({ aofEnabled: false, save: '3600 1 300 100' })
    expect(rdb.mode).toBe('rdb')
    expect(rdb.warning).toMatch(/since the last snapshot.*appendonly yes/)
    const none = describePersistence({ aofEnabled: false, save: '' })
    expect(none.mode).toBe('none')
    expect(none.warning).toMatch(/no persistence.*restart loses every entry not yet stored.*appendonly yes/)
  })

  it('says it could not check when CONFIG is refused, never claiming either way', () => {
    const refused = describePersistence({
      aofEnabled: false,
      problem: "CONFIG GET: ERR unknown command 'CONFIG'",
    })
    expect(refused.mode).toBe('unknown')
    expect(refused.warning).toMatch(/Could not check.*unknown command 'CONFIG'.*AOF is off/)
    // AOF on is enough to know entries are kept, even when appendfsync cannot be read.
    expect(describePersistence({ aofEnabled: true, problem: 'CONFIG GET: refused' })).toMatchObject({
      mode: 'aof',
      warning: undefined,
    })
  })
})
