import { createHash } from 'node:crypto'
import { AppError } from '../platform'

export interface IdempotencyOptions {
  /** Keys remembered at most; the oldest is forgotten first. @default 10000 */
  readonly maxKeys?: number
  /** How long an accepted key is remembered. @default 24 h */
  readonly ttlMs?: number
}

/** A digest of what a request asks for, so a key can be checked against the request it first came with. */
export function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('base64url')
}

// The IETF idempotency-key draft answers 422 when a key comes back with a different request.
const keyReused = () =>
  new AppError('unprocessable', 'Idempotency-Key was already used for a different mail', {
    debugMessage: 'Use a new key for a new mail; the same key with the same body is answered as the first time',
  })

/**
 * Remembers the keys of mails this process already handed to the SMTP server, so a sender that retries after a
 * lost answer (the usermgmt outbox does) gets 200 again instead of a second mail. Concurrent sends with one key
 * share one attempt. A key that comes back with a different body is refused, never silently not sent.
 */
export function createIdempotencyCache(options: IdempotencyOptions = {}) {
  const maxKeys = options.maxKeys ?? 10_000
  const ttlMs = options.ttlMs ?? 24 * 60 * 60 * 1000
  const done = new Map<string, { readonly fingerprint: string; readonly at: number }>()
  const inFlight = new Map<string, { readonly fingerprint: string; readonly attempt: Promise<void> }>()

  return {
    async once(key: string | undefined, fingerprint: string, work: () => Promise<void>): Promise<'sent' | 'replayed'> {
      if (key === undefined) {
        await work()
        return 'sent'
      }
      const accepted = done.get(key)
      if (accepted !== undefined && Date.now() - accepted.at < ttlMs) {
        if (accepted.fingerprint !== fingerprint) throw keyReused()
        return 'replayed'
      }
      const pending = inFlight.get(key)
      if (pending) {
        if (pending.fingerprint !== fingerprint) throw keyReused()
        await pending.attempt
        return 'replayed'
      }
      const attempt = work()
      inFlight.set(key, { fingerprint, attempt })
      try {
        await attempt
        done.delete(key)
        done.set(key, { fingerprint, at: Date.now() })
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
