import type { Logger } from '../platform'
import type { Tracer } from '../xray'
import type { UsermgmtDb } from './db'
import { type NotificationClient, UpstreamStatusError } from './notification-client'
import type { NotificationRequest } from './schemas'

export interface OutboxStats {
  readonly pending: number
  readonly delivered: number
  readonly failed: number
  /** Age of the oldest undelivered entry, in ms. */
  readonly oldestPendingMs: number | null
}

export interface OutboxOptions {
  /** First retry delay; doubles per attempt. @default 1000 */
  readonly retryBaseMs?: number
  /** Longest retry delay. @default 60000 */
  readonly retryMaxMs?: number
  /** How often to look for due entries (other replicas', or after a restart). @default 5000 */
  readonly pollMs?: number
  /** How long a claimed entry is ours before another replica may take it. @default 60000 */
  readonly claimMs?: number
  /** Attempts after which an entry the notification service keeps refusing (4xx) is marked failed. @default 10 */
  readonly maxRefusals?: number
}

export interface OutboxDeliverer {
  /** Deliver due entries now (called after a user is created). */
  kick(): void
  /** Resolves once nothing is being delivered and nothing more will start. */
  stop(): Promise<void>
  stats(): Promise<OutboxStats>
}

interface Deps {
  readonly db: UsermgmtDb
  readonly client: NotificationClient
  readonly log: Logger
  /** Sends continue the trace of the request that created the entry; the polling itself is untraced. */
  readonly tracer: Pick<Tracer, 'untraced' | 'continueTrace'>
}

const batchSize = 20

/**
 * Delivers the outbox: each entry is claimed (so replicas never send the same one together), sent with
 * an idempotency key, then marked delivered, or rescheduled with exponential back-off. Nothing is ever
 * silently dropped: an entry that is refused again and again ends as 'failed', logged and counted.
 */
export function startOutboxDeliverer(deps: Deps, options: OutboxOptions = {}): OutboxDeliverer {
  const { db, client, log, tracer } = deps
  const retryBaseMs = options.retryBaseMs ?? 1000
  const retryMaxMs = options.retryMaxMs ?? 60_000
  const pollMs = options.pollMs ?? 5000
  const claimMs = options.claimMs ?? 60_000
  const maxRefusals = options.maxRefusals ?? 10
  let stopped = false
  let running: Promise<void> | undefined
  let again = false
  let timer: ReturnType<typeof setTimeout> | undefined

  const backoff = (attempts: number) => {
    const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.max(0, attempts - 1))
    return Math.round(delay * (0.8 + Math.random() * 0.4))
  }

  async function claim(id: number, now: number): Promise<boolean> {
    const result = await db
      .updateTable('notification_outbox')
      .set({ claimed_until: now + claimMs })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .executeTakeFirst()
    return result.numUpdatedRows === 1n
  }

  async function deliverOne(entry: {
    id: number
    idempotency_key: string
    payload: string
    trace_header: string | null
    attempts: number
  }) {
    const attempts = entry.attempts + 1
    try {
      await tracer.continueTrace(entry.trace_header, () =>
        client.send(JSON.parse(entry.payload) as NotificationRequest, {
          idempotencyKey: entry.idempotency_key,
          traceHeader: entry.trace_header,
        }),
      )
      await db
        .updateTable('notification_outbox')
        .set({ status: 'delivered', attempts, delivered_at: Date.now(), claimed_until: null, last_error: null })
        .where('id', '=', entry.id)
        .execute()
      log.info('outbox entry delivered', { outboxId: entry.id, attempts })
    } catch (error) {
      const message = (error instanceof Error ? error.message : String(error)).slice(0, 500)
      // Unreachable or 5xx: retried for as long as it takes. A refusal (4xx) is retried too, in case it came
      // from a notification version mid-rollout, but only so often; then the entry is failed and visible.
      const permanent = error instanceof UpstreamStatusError && error.isPermanent && attempts >= maxRefusals
      const delay = backoff(attempts)
      await db
        .updateTable('notification_outbox')
        .set({
          status: permanent ? 'failed' : 'pending',
          attempts,
          next_attempt_at: Date.now() + delay,
          claimed_until: null,
          last_error: message,
        })
        .where('id', '=', entry.id)
        .execute()
      if (permanent) log.error('outbox entry rejected for good; not retrying', { outboxId: entry.id, attempts, error })
      else log.warn('outbox delivery failed; will retry', { outboxId: entry.id, attempts, retryInMs: delay, error })
    }
  }

  async function drainOnce(): Promise<number | undefined> {
    const now = Date.now()
    const due = await db
      .selectFrom('notification_outbox')
      .select(['id', 'idempotency_key', 'payload', 'trace_header', 'attempts'])
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .orderBy('id')
      .limit(batchSize)
      .execute()
    for (const entry of due) {
      if (stopped) break
      if (await claim(Number(entry.id), now)) await deliverOne({ ...entry, id: Number(entry.id) })
    }
    const next = await db
      .selectFrom('notification_outbox')
      .select((eb) => eb.fn.min('next_attempt_at').as('next'))
      .where('status', '=', 'pending')
      .executeTakeFirst()
    return due.length === batchSize ? Date.now() : next?.next == null ? undefined : Number(next.next)
  }

  function schedule(at: number | undefined) {
    if (stopped) return
    clearTimeout(timer)
    const delay = at === undefined ? pollMs : Math.min(pollMs, Math.max(0, at - Date.now()))
    timer = setTimeout(run, delay)
  }

  function run(): void {
    if (stopped) return
    if (running) {
      again = true
      return
    }
    running = (async () => {
      let nextAt: number | undefined
      try {
        do {
          again = false
          nextAt = await tracer.untraced(drainOnce)
        } while (again && !stopped)
      } catch (error) {
        log.warn('outbox pass failed; will retry', { error })
        nextAt = Date.now() + Math.min(pollMs, retryMaxMs)
      } finally {
        running = undefined
      }
      schedule(nextAt)
    })()
  }

  queueMicrotask(run)
  return {
    kick: run,
    async stop() {
      stopped = true
      clearTimeout(timer)
      await running
    },
    async stats() {
      const rows = await tracer.untraced(() =>
        db
          .selectFrom('notification_outbox')
          .select((eb) => ['status', eb.fn.countAll<number>().as('n'), eb.fn.min('created_at').as('oldest')])
          .groupBy('status')
          .execute(),
      )
      const count = (status: string) => Number(rows.find((r) => r.status === status)?.n ?? 0)
      const oldest = rows.find((r) => r.status === 'pending')?.oldest
      return {
        pending: count('pending'),
        delivered: count('delivered'),
        failed: count('failed'),
        oldestPendingMs: oldest == null ? null : Date.now() - Number(oldest),
      }
    },
  }
}
