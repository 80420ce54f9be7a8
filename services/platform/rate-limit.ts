import { isIP } from 'node:net'
import { AppError } from './errors'

/** How often something may happen per key: `limit` per `window` on average, up to `burst` at once. */
export interface RateLimitConfig {
  readonly limit: number
  readonly window: 'minute' | 'hour'
  readonly burst: number
}

const windowMs: Record<RateLimitConfig['window'], number> = { minute: 60_000, hour: 3_600_000 }

export type Taken = { readonly ok: true; giveBack(): void } | { readonly ok: false; readonly retryAfterSeconds: number }

export interface TokenBuckets {
  /** Takes one token from `key`'s bucket, or says how long until one is there. */
  take(key: string, now?: number): Taken
}

export interface TokenBucketOptions {
  /** Keys remembered at most; beyond it full buckets are forgotten first, then the least recently used. @default 100000 */
  readonly maxKeys?: number
}

interface Bucket {
  tokens: number
  at: number
}

/** One token bucket per key, refilled continuously; in memory, so per process (per replica). */
export function createTokenBuckets(config: RateLimitConfig, options: TokenBucketOptions = {}): TokenBuckets {
  const maxKeys = options.maxKeys ?? 100_000
  const perMs = config.limit / windowMs[config.window]
  const buckets = new Map<string, Bucket>()

  const refill = (bucket: Bucket, now: number) => {
    bucket.tokens = Math.min(config.burst, bucket.tokens + Math.max(0, now - bucket.at) * perMs)
    bucket.at = now
  }

  // A full bucket is the same as no bucket, so forgetting it changes nothing; the least recently used go next. Down to 90%
  // at once, so that a flood of new keys costs one sweep per tenth of the table, not one per request.
  const makeRoom = (now: number) => {
    for (const [key, bucket] of buckets) {
      refill(bucket, now)
      if (bucket.tokens >= config.burst) buckets.delete(key)
    }
    const keep = Math.floor(maxKeys * 0.9)
    for (const key of buckets.keys()) {
      if (buckets.size <= keep) break
      buckets.delete(key)
    }
  }

  return {
    take(key, now = Date.now()) {
      let bucket = buckets.get(key)
      if (bucket === undefined) {
        if (buckets.size >= maxKeys) makeRoom(now)
        bucket = { tokens: config.burst, at: now }
        buckets.set(key, bucket)
      } else {
        refill(bucket, now)
        // Re-inserted, so the map's order is least recently used first.
        buckets.delete(key)
        buckets.set(key, bucket)
      }
      if (bucket.tokens < 1) {
        return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)) }
      }
      bucket.tokens -= 1
      const taken = bucket
      return {
        ok: true,
        giveBack() {
          taken.tokens = Math.min(config.burst, taken.tokens + 1)
        },
      }
    },
  }
}

/** The Elysia hooks that limit one route; spread into its options. */
export interface RouteRateLimit {
  readonly beforeHandle: (context: { readonly request: Request }) => void
  readonly mapResponse: (context: { readonly request: Request; readonly responseValue: unknown }) => void
}

export interface RouteRateLimitOptions {
  readonly limit: RateLimitConfig
  /** Whose bucket a request draws from (a client address, a caller's token). */
  readonly keyOf: (request: Request) => string
  /** What is limited, for the 429's debug message, e.g. "Account creation per client address". */
  readonly what: string
  readonly maxKeys?: number
}

/**
 * Limits a route: a request takes a token before its handler runs (429 with Retry-After when there is none), and
 * gets it back unless the answer is a success, so that only work actually done (an account created, a mail sent)
 * counts. Settled in mapResponse, which runs before the answer leaves, for successes and errors alike.
 */
export function createRouteRateLimit(options: RouteRateLimitOptions): RouteRateLimit {
  const buckets = createTokenBuckets(options.limit, { maxKeys: options.maxKeys })
  const held = new WeakMap<Request, () => void>()
  const { limit, burst, window } = options.limit
  return {
    beforeHandle: function takeRateLimitToken({ request }) {
      const taken = buckets.take(options.keyOf(request))
      if (!taken.ok) {
        throw new AppError('rate_limited', 'Too many requests', {
          debugMessage: `${options.what} is limited to ${limit} per ${window} (bursts of ${burst}); retry after ${taken.retryAfterSeconds} s`,
          headers: { 'retry-after': String(taken.retryAfterSeconds) },
        })
      }
      held.set(request, taken.giveBack)
    },
    mapResponse: function settleRateLimitToken({ request, responseValue }) {
      const giveBack = held.get(request)
      if (giveBack === undefined) return
      held.delete(request)
      const succeeded = responseValue instanceof Response && responseValue.status >= 200 && responseValue.status < 300
      if (!succeeded) giveBack()
    },
  }
}

/** The peer address in one spelling: IPv4-mapped IPv6 as IPv4. */
function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return mapped?.[1] ?? address.toLowerCase()
}

/** An IPv6 client usually holds a whole /64, so it counts as one client; an IPv4 address is one. */
function clientKey(address: string): string {
  const normalized = normalizeAddress(address)
  if (isIP(normalized) !== 6) return normalized
  const [head = '', tail = ''] = normalized.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === '' ? [] : tail.split(':')
  const groups = normalized.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}

/** The TCP peer as a rate limit's key (for callers that never come through a proxy). */
export function peerKeyOf(request: Request, peer: (request: Request) => string | undefined): string {
  const address = peer(request)
  return address === undefined ? 'unknown' : clientKey(address)
}

/**
 * The client a request comes from: the right-most X-Forwarded-For entry (the one an AWS ALB appends, which the
 * client cannot choose), else the TCP peer. Without a proxy in front a client can choose that header, so a
 * role reached directly should not be trusted to tell clients apart by it (see docs/security.md).
 */
export function clientAddressOf(request: Request, peer: (request: Request) => string | undefined): string {
  const forwarded = request.headers.get('x-forwarded-for')
  const last = forwarded?.split(',').at(-1)?.trim()
  if (last !== undefined && isIP(normalizeAddress(last)) !== 0) return clientKey(last)
  return peerKeyOf(request, peer)
}
