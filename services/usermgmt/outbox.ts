import { type Logger, mailDeliveryDeadlineMs, messageOf } from '../platform'
import type { Tracer } from '../xray'
import type { UsermgmtDb } from './db'
import type { OutboxStatus } from './db-schema'
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
  /**
   * How long a claimed entry is ours before another replica may take it: longer than a send may take, so no
   * replica sends an entry while another one's attempt can still deliver it. @default 3 x mailDeliveryDeadlineMs
   */
  readonly claimMs?: number
  /**
   * Attempts after which an entry that is refused (a 4xx from notification, or a mail server's permanent 5xx) is
   * marked failed; outages are retried for as long as they last. @default 10
   */
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
  const claimMs = options.claimMs ?? 3 * mailDeliveryDeadlineMs
  const maxRefusals = options.maxRefusals ?? 10
  if (claimMs <= client.sendDeadlineMs) {
    throw new Error(`the outbox claim (${claimMs} ms) must outlast a send (${client.sendDeadlineMs} ms)`)
  }
  let stopped = false
  let running: Promise<void> | undefined
  let again = false
  let timer: ReturnType<typeof setTimeout> | undefined

  const backoff = (attempts: number) => {
    const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.max(0, attempts - 1))
    return Math.round(delay * (0.8 + Math.random() * 0.4))
  }

  /** Takes an entry for this replica; the claim's end, or undefined when another replica has it. */
  async function claim(id: number): Promise<number | undefined> {
    const now = Date.now()
    const until = now + claimMs
    const result = await db
      .updateTable('notification_outbox')
      .set({ claimed_until: until })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .executeTakeFirst()
    return result.numUpdatedRows === 1n ? until : undefined
  }

  /**
   * Records a mail notification accepted. Tried again while the claim holds: given up, the entry would be sent a
   * second time once the claim ran out.
   */
  async function markDelivered(id: number, attempts: number, claimedUntil: number): Promise<void> {
    for (let retry = 1; ; retry++) {
      try {
        await db
          .updateTable('notification_outbox')
          .set({ status: 'delivered', attempts, delivered_at: Date.now(), claimed_until: null, last_error: null })
          .where('id', '=', id)
          .execute()
        return
      } catch (error) {
        const delay = backoff(retry)
        if (stopped || Date.now() + delay >= claimedUntil) throw error
        log.warn('could not record a delivered outbox entry; retrying', { outboxId: id, retryInMs: delay, error })
        await Bun.sleep(delay)
      }
    }
  }

  async function deliverOne(
    entry: {
      id: number
      idempotency_key: string
      payload: string
      trace_header: string | null
      attempts: number
    },
    claimedUntil: number,
  ) {
    const attempts = entry.attempts + 1
    try {
      await tracer.continueTrace(entry.trace_header, () =>
        client.send(JSON.parse(entry.payload) as NotificationRequest, {
          idempotencyKey: entry.idempotency_key,
          traceHeader: entry.trace_header,
        }),
      )
    } catch (error) {
      const message = messageOf(error).slice(0, 500)
      // Outages (unreachable, 5xx, a mail server's "not now") are retried for as long as they last. A refusal
      // is retried too, in case it came from a notification version mid-rollout, but only so often; then the
      // entry is failed, logged, counted and left for `app outbox retry`.
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
      if (permanent) {
        log.error('outbox entry refused for good; not retrying (see app outbox list --status failed)', {
          outboxId: entry.id,
          attempts,
          failedEntries: (await countOutbox(db)).failed,
          error,
        })
      } else {
        log.warn('outbox delivery failed; will retry', { outboxId: entry.id, attempts, retryInMs: delay, error })
      }
      return
    }
    await markDelivered(entry.id, attempts, claimedUntil)
    log.info('outbox entry delivered', { outboxId: entry.id, attempts })
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
      const claimedUntil = await claim(Number(entry.id))
      if (claimedUntil !== undefined) await deliverOne({ ...entry, id: Number(entry.id) }, claimedUntil)
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
  void tracer
    .untraced(() => countOutbox(db))
    .then(({ failed }) => {
      if (failed > 0) {
        log.warn('the outbox holds mails refused for good (see app outbox list --status failed)', {
          failedEntries: failed,
        })
      }
    })
    // Only a reminder: a database that is down now is reported by the outbox's own passes.
    .catch(() => undefined)
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

/** One outbox entry as an operator sees it: never the idempotency key, which only the two roles need. */
export interface OutboxEntry {
  readonly id: number
  readonly status: OutboxStatus
  readonly attempts: number
  readonly createdAt: number
  /** When the next attempt is due (pending), or was last scheduled. */
  readonly nextAttemptAt: number
  readonly deliveredAt: number | null
  readonly lastError: string | null
  readonly recipients: readonly string[]
}

function recipientsOf(payload: string): string[] {
  try {
    const mail = JSON.parse(payload) as Partial<Record<'toEmails' | 'ccEmails' | 'bccEmails', unknown>>
    return [mail.toEmails, mail.ccEmails, mail.bccEmails].flatMap((list) =>
      Array.isArray(list) ? list.map(String) : [],
    )
  } catch {
    return []
  }
}

/** The newest entries first, optionally of one status. */
export async function listOutbox(
  db: UsermgmtDb,
  filter: { readonly status?: OutboxStatus; readonly limit: number },
): Promise<OutboxEntry[]> {
  let query = db
    .selectFrom('notification_outbox')
    .select(['id', 'status', 'attempts', 'created_at', 'next_attempt_at', 'delivered_at', 'last_error', 'payload'])
    .orderBy('id', 'desc')
    .limit(filter.limit)
  if (filter.status !== undefined) query = query.where('status', '=', filter.status)
  const rows = await query.execute()
  return rows.map((row) => ({
    id: Number(row.id),
    status: row.status,
    attempts: row.attempts,
    createdAt: Number(row.created_at),
    nextAttemptAt: Number(row.next_attempt_at),
    deliveredAt: row.delivered_at == null ? null : Number(row.delivered_at),
    lastError: row.last_error,
    recipients: recipientsOf(row.payload),
  }))
}

/** How many entries have each status. */
export async function countOutbox(db: UsermgmtDb): Promise<Record<OutboxStatus, number>> {
  const rows = await db
    .selectFrom('notification_outbox')
    .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute()
  const count = (status: OutboxStatus) => Number(rows.find((r) => r.status === status)?.n ?? 0)
  return { pending: count('pending'), delivered: count('delivered'), failed: count('failed') }
}

export type RequeueResult =
  | { readonly ok: true; readonly requeued: readonly number[] }
  | { readonly ok: false; readonly problems: readonly string[] }

/**
 * Puts failed entries back in the queue with a fresh count of attempts, due now. Named entries must all exist and
 * be failed, or nothing changes; `all-failed` takes every failed entry.
 */
export async function requeueFailed(db: UsermgmtDb, which: readonly number[] | 'all-failed'): Promise<RequeueResult> {
  return db.transaction().execute(async (trx) => {
    let ids: number[]
    if (which === 'all-failed') {
      const rows = await trx.selectFrom('notification_outbox').select('id').where('status', '=', 'failed').execute()
      ids = rows.map((row) => Number(row.id))
    } else {
      const wanted = [...new Set(which)]
      const rows =
        wanted.length === 0
          ? []
          : await trx.selectFrom('notification_outbox').select(['id', 'status']).where('id', 'in', wanted).execute()
      const problems = wanted.flatMap((id) => {
        const row = rows.find((r) => Number(r.id) === id)
        if (row === undefined) return [`outbox entry ${id} does not exist; see app outbox list`]
        if (row.status !== 'failed') {
          return [`outbox entry ${id} is ${row.status}, not failed; only failed entries are retried`]
        }
        return []
      })
      if (problems.length > 0) return { ok: false, problems }
      ids = wanted
    }
    if (ids.length > 0) {
      await trx
        .updateTable('notification_outbox')
        .set({ status: 'pending', attempts: 0, next_attempt_at: Date.now(), claimed_until: null })
        .where('id', 'in', ids)
        .where('status', '=', 'failed')
        .execute()
    }
    return { ok: true, requeued: ids }
  })
}
