import { describe, expect, test } from 'bun:test'
import { clientAddressOf, createTokenBuckets, peerKeyOf } from '.'

describe('token buckets', () => {
  test('allow a burst, then one more per refill interval, and say how long to wait', () => {
    const buckets = createTokenBuckets({ limit: 60, window: 'hour', burst: 3 })
    const at = 1_000_000
    expect([1, 2, 3].map(() => buckets.take('a', at).ok)).toEqual([true, true, true])
    expect(buckets.take('a', at)).toEqual({ ok: false, retryAfterSeconds: 60 })
    expect(buckets.take('a', at + 30_000)).toEqual({ ok: false, retryAfterSeconds: 30 })
    expect(buckets.take('a', at + 60_000).ok).toBe(true)
    expect(buckets.take('a', at + 60_000).ok).toBe(false)
    // Another key has its own bucket.
    expect(buckets.take('b', at).ok).toBe(true)
  })

  test('never refill beyond the burst, however long a key stays away', () => {
    const buckets = createTokenBuckets({ limit: 1, window: 'minute', burst: 2 })
    expect(buckets.take('a', 0).ok).toBe(true)
    const later = 24 * 3_600_000
    expect([1, 2, 3].map(() => buckets.take('a', later).ok)).toEqual([true, true, false])
  })

  test('a token given back can be taken again', () => {
    const buckets = createTokenBuckets({ limit: 1, window: 'hour', burst: 1 })
    const taken = buckets.take('a', 0)
    expect(taken.ok).toBe(true)
    if (taken.ok) taken.giveBack()
    expect(buckets.take('a', 0).ok).toBe(true)
    expect(buckets.take('a', 0).ok).toBe(false)
  })

  test('remember a bounded number of keys, forgetting the least recently used', () => {
    const buckets = createTokenBuckets({ limit: 1, window: 'hour', burst: 1 }, { maxKeys: 10 })
    for (let i = 0; i < 10; i++) expect(buckets.take(`k${i}`, 0).ok).toBe(true)
    // k0 is used again (and refused), so it is the most recently used when room is needed.
    expect(buckets.take('k0', 0).ok).toBe(false)
    for (let i = 10; i < 12; i++) expect(buckets.take(`k${i}`, 0).ok).toBe(true)
    expect(buckets.take('k0', 0).ok).toBe(false)
    // k1 was forgotten to make room, so it starts again with a full bucket.
    expect(buckets.take('k1', 0).ok).toBe(true)
  })
})

describe('client addresses', () => {
  const peer = (address: string | undefined) => () => address
  const request = (forwardedFor?: string) =>
    new Request('http://localhost/', forwardedFor === undefined ? {} : { headers: { 'x-forwarded-for': forwardedFor } })

  test('take the right-most X-Forwarded-For entry (the ALB appends it), whatever the client put before it', () => {
    expect(clientAddressOf(request('1.1.1.1, 203.0.113.7'), peer('10.0.0.5'))).toBe('203.0.113.7')
    expect(clientAddressOf(request('9.9.9.9,203.0.113.7'), peer('10.0.0.5'))).toBe('203.0.113.7')
  })

  test('fall back to the peer without the header or when its last entry is no address', () => {
    expect(clientAddressOf(request(), peer('::ffff:192.0.2.1'))).toBe('192.0.2.1')
    expect(clientAddressOf(request('1.1.1.1, garbage'), peer('192.0.2.1'))).toBe('192.0.2.1')
    expect(clientAddressOf(request(), peer(undefined))).toBe('unknown')
  })

  test('count an IPv6 client by its /64, the block one subscriber usually holds', () => {
    expect(clientAddressOf(request('2001:db8:0:1::5'), peer(undefined))).toBe('2001:db8:0:1::/64')
    expect(clientAddressOf(request('2001:0db8:0000:0001:abcd:1:2:3'), peer(undefined))).toBe('2001:db8:0:1::/64')
    expect(peerKeyOf(request('203.0.113.7'), peer('::1'))).toBe('0:0:0:0::/64')
  })
})
