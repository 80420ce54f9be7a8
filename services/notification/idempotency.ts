export interface IdempotencyOptions {
  /** Keys remembered at most; the oldest is forgotten first. @default 10000 */
  readonly maxKeys?: number
  /** How long an accepted key is remembered. @default 24 h */
  readonly ttlMs?: number
}

/**
 * Remembers the keys of mails already accepted, so a sender that retries after a lost answer (the usermgmt
 * outbox does) gets 200 again instead of a second mail. Concurrent sends with one key share one attempt.
 */
export function createIdempotencyCache(options: IdempotencyOptions = {}) {
  const maxKeys = options.maxKeys ?? 10_000
  const ttlMs = options.ttlMs ?? 24 * 60 * 60 * 1000
  const done = new Map<string, number>()
  const inFlight = new Map<string, Promise<void>>()

  return {
    async once(key: string | undefined, work: () => Promise<void>): Promise<'sent' | 'replayed'> {
      if (key === undefined) {
        await work()
        return 'sent'
      }
      const acceptedAt = done.get(key)
      if (acceptedAt !== undefined && Date.now() - acceptedAt < ttlMs) return 'replayed'
      const pending = inFlight.get(key)
      if (pending) {
        await pending
        return 'replayed'
      }
      const attempt = work()
      inFlight.set(key, attempt)
      try {
        await attempt
        done.delete(key)
        done.set(key, Date.now())
        if (done.size > maxKeys) {
          const oldest = done.keys().next()
          if (!oldest.done) done.delete(oldest.value)
        }
        return 'sent'
      } finally {
        inFlight.delete(key)
      }
    },
  }
}
