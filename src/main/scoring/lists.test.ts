import { describe, expect, it } from 'vitest'
import { createListMatcher, ipKey, ipNetworkRange, ipRanges } from './lists'

describe('ipKey', () => {
  it('writes IPv4 as 8 and IPv6 as 32 hex digits, expanding ::', () => {
    expect(ipKey('192.0.2.1')).toBe('4c0000201')
    expect(ipKey('::1')).toBe(`6${'0'.repeat(31)}1`)
    expect(ipKey('2001:DB8::8:800:200C:417A')).toBe(
      `6${['2001', '0db8', '0000', '0000', '0008', '0800', '200c', '417a'].join('')}`,
    )
    expect(ipKey('2001:db8:0:0:8:800:200c:417a')).toBe(ipKey('2001:db8::8:800:200c:417a'))
    expect(ipKey('::ffff:192.0.2.1')).toBe(`6${'0'.repeat(20)}ffffc0000201`)
  })

  it('refuses what is not an address', () => {
    for (const bad of [
      '256.1.1.1',
      '1.2.3',
      '1:2:3',
      '1::2::3',
      ':::',
      '12345::',
      '1:2:3:4:5:6:7:8:9',
      '::1.2.3.256',
      'g::1',
      'a:1.2.3.4',
      '',
    ])
      expect(ipKey(bad), bad).toBeNull()
  })
})

describe('ipNetworkRange', () => {
  it('spans the addresses of the network, whatever host bits are written', () => {
    expect(ipNetworkRange('10.1.2.3/8')).toEqual({ lo: '40a000000', hi: '40affffff' })
    expect(ipNetworkRange('10.1.2.3')).toEqual({ lo: '40a010203', hi: '40a010203' })
    expect(ipNetworkRange('2001:db8::/32')).toEqual({
      lo: `620010db8${'0'.repeat(24)}`,
      hi: `620010db8${'f'.repeat(24)}`,
    })
    expect(ipNetworkRange('0.0.0.0/0')).toEqual({ lo: '400000000', hi: '4ffffffff' })
  })

  it('refuses a bad prefix', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0.0/x', '10.0.0.0/8/1', '::/129', 'nope/8'])
      expect(ipNetworkRange(bad), bad).toBeNull()
  })

  it('merges overlapping networks', () => {
    const ranges = ipRanges([
      { kind: 'ip', value: '10.0.0.0/8' },
      { kind: 'ip', value: '10.9.0.0/16' },
      { kind: 'ip', value: '192.0.2.7' },
      { kind: 'user', value: 'C1' },
    ])
    expect(ranges).toEqual([
      { lo: '40a000000', hi: '40affffff' },
      { lo: '4c0000207', hi: '4c0000207' },
    ])
  })

  it('names the entry that is not an address', () => {
    expect(() => ipRanges([{ kind: 'ip', value: '10.0.0.300' }])).toThrow(/10\.0\.0\.300/)
  })
})

describe('createListMatcher', () => {
  const matcher = createListMatcher(
    [
      { kind: 'user', value: 'C1' },
      { kind: 'counterparty', value: 'M9' },
      { kind: 'device', value: 'dev-stolen' },
      { kind: 'ip', value: '203.0.113.0/24' },
      { kind: 'ip', value: '2001:db8:bad::/48' },
      { kind: 'ip', value: '198.51.100.7' },
      { kind: 'user', value: 'C-expired', expires_at: '2026-01-01T00:00:00Z' },
      { kind: 'user', value: 'C-later', expires_at: new Date('2026-12-31T00:00:00Z') },
    ],
    new Date('2026-06-01T00:00:00Z'),
  )

  it('matches each kind only against its own list', () => {
    expect(matcher.isListed('user', 'C1')).toBe(true)
    expect(matcher.isListed('counterparty', 'C1')).toBe(false)
    expect(matcher.isListed('counterparty', 'M9')).toBe(true)
    expect(matcher.isListed('device', 'dev-stolen')).toBe(true)
  })

  it('matches IPs inside CIDR networks, v4 and v6, and nothing else', () => {
    expect(matcher.isIpListed('203.0.113.200')).toBe(true)
    expect(matcher.isIpListed('203.0.114.1')).toBe(false)
    expect(matcher.isIpListed('198.51.100.7')).toBe(true)
    expect(matcher.isIpListed('198.51.100.8')).toBe(false)
    expect(matcher.isIpListed('2001:db8:bad:ffff::1')).toBe(true)
    expect(matcher.isIpListed('2001:DB8:BAD::')).toBe(true)
    expect(matcher.isIpListed('2001:db8:bae::1')).toBe(false)
    expect(matcher.isIpListed('not an ip')).toBe(false)
  })

  it('leaves out entries that expired', () => {
    expect(matcher.isListed('user', 'C-expired')).toBe(false)
    expect(matcher.isListed('user', 'C-later')).toBe(true)
  })

  it('matches no IP with no ip entries', () => {
    expect(createListMatcher([{ kind: 'user', value: 'C1' }]).isIpListed('10.0.0.1')).toBe(false)
  })
})
