import { describe, expect, it } from 'vitest'
import { describeBulkLimit, describePersistence, describeRedisVersion } from './redis-persistence'

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

describe('describeRedisVersion', () => {
  it('warns about versions with the cjson overflow the workers’ reads reach, and about those without XAUTOCLAIM', () => {
    for (const version of ['7.0.0', '7.0.11', '6.2.0', '6.2.12'])
      expect(describeRedisVersion(version), version).toMatch(/CVE-2022-24834.*7\.0\.12/)
    for (const version of ['6.0.16', '5.0.7'])
      expect(describeRedisVersion(version), version).toMatch(/XAUTOCLAIM/)
    for (const version of ['7.0.12', '7.0.15', '7.2.4', '7.4.0', '8.0.1', '6.2.13', '6.2.14'])
      expect(describeRedisVersion(version), version).toBeUndefined()
    // Unknown (a managed service that hides INFO server, or a fork's own numbering): nothing said.
    expect(describeRedisVersion(undefined)).toBeUndefined()
    expect(describeRedisVersion('unknown')).toBeUndefined()
  })
})

describe('the largest field Redis takes', () => {
  it('warns above 64 MiB (Redis takes 512 MiB by default), naming the setting', () => {
    expect(describeBulkLimit(512 * 1024 * 1024)).toMatch(
      /^Redis takes stream fields of up to 512 MiB \(proto-max-bulk-len\).*Set proto-max-bulk-len 16mb/,
    )
    expect(describeBulkLimit(16 * 1024 * 1024)).toBeUndefined()
    expect(describeBulkLimit(64 * 1024 * 1024)).toBeUndefined()
    expect(describeBulkLimit(undefined)).toBeUndefined()
    expect(describeBulkLimit(Number.NaN)).toBeUndefined()
  })
})
