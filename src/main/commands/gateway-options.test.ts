import { InvalidArgumentError } from 'commander'
import { describe, expect, it } from 'vitest'
import { trustedProxies } from './gateway'

describe('--trust-proxy', () => {
  it('takes addresses and CIDRs of both families, comma-separated', () => {
    expect(trustedProxies('10.0.0.0/8, 192.168.1.2,::1,fd00::/8')).toEqual([
      '10.0.0.0/8',
      '192.168.1.2',
      '::1',
      'fd00::/8',
    ])
  })

  it.each(['', ' , ', 'proxy.internal', '10.0.0.0/33', '::1/129', '10.0.0.0/8/1', '10.0.0.0/', '300.1.1.1'])(
    'refuses %j, naming what is wrong',
    (value) => {
      expect(() => trustedProxies(value)).toThrow(InvalidArgumentError)
    },
  )
})
