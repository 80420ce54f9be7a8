import {
  type Authorizer,
  clientAddressOf,
  createRouteRateLimit,
  createServiceApp,
  type HttpServer,
  type Logger,
  type RateLimitConfig,
  type RunningService,
  runningService,
  type Secret,
  startHttpServer,
} from '../platform'
import { createDisabledTracer, type Tracer } from '../xray'
import type { UsermgmtDatabase } from './db'
import { learnColumnCharsets } from './db-charsets'
import { describeDatabaseError } from './db-errors'
import { migrateToLatest } from './migrations'
import { createNotificationClient } from './notification-client'
import { type OutboxDeliverer, type OutboxOptions, startOutboxDeliverer } from './outbox'
import { createReadinessCheck } from './readiness'
import { createUsermgmtRoutes, type SchemaState } from './routes'

export interface UsermgmtOptions {
  readonly database: UsermgmtDatabase
  /** Where the notification service answers, e.g. http://notification-clusterip-service:8096 */
  readonly notificationBaseUrl: string
  /** 0 picks a free port. */
  readonly port: number
  readonly hostname?: string
  readonly log: Logger
  readonly outbox?: OutboxOptions
  /** How long one account mail's send may take; the outbox claim must outlast it. @default mailDeliveryDeadlineMs */
  readonly notificationSendDeadlineMs?: number
  /** The X-Ray layer. @default tracing off */
  readonly tracer?: Tracer
  /** Put the SQL text (never its parameters) in SQL subsegments. @default false */
  readonly collectSqlQueries?: boolean
  /** First delay between migration attempts while the database is unreachable; doubles up to 30 s. @default 2000 */
  readonly migrationRetryMs?: number
  /** @default 10000 */
  readonly shutdownTimeoutMs?: number
  /** Checks bearer tokens on every data endpoint (AUTH_MODE=jwt). @default none: every route open */
  readonly authorizer?: Authorizer
  /** Sent as `Authorization: Bearer` on every call to notification (NOTIFICATION_AUTH_TOKEN). @default none */
  readonly notificationToken?: Secret
  /** Account creations per client address (X-Forwarded-For's last entry, else the peer). @default no limit */
  readonly accountLimit?: RateLimitConfig
}

export type RunningRole = RunningService

/**
 * Starts the usermgmt role: listens at once, migrates in the background (retrying while the database is
 * unreachable, answering 503 meanwhile), then starts delivering the outbox.
 */
export function startUsermgmt(options: UsermgmtOptions): RunningRole {
  const { database } = options
  const tracer = options.tracer ?? createDisabledTracer()
  const log = options.log.withContext(tracer.logFields)
  const retryMs = options.migrationRetryMs ?? 2000
  let schema: SchemaState = { ready: false, lastError: undefined }
  let outbox: OutboxDeliverer | undefined
  let stopped = false
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  let migrating: Promise<void> | undefined

  const notifications = createNotificationClient({
    baseUrl: options.notificationBaseUrl,
    fetch: tracer.fetch,
    token: options.notificationToken,
    ...(options.notificationSendDeadlineMs === undefined ? {} : { sendDeadlineMs: options.notificationSendDeadlineMs }),
  })
  let version: string | undefined
  database.instrument((query, run) =>
    tracer.trace('sql', database.label, async (span) => {
      span.sql({
        url: database.url,
        databaseType: database.databaseType,
        databaseVersion: version,
        driverVersion: database.driverVersion,
        user: database.user,
        query: options.collectSqlQueries ? query.sql : undefined,
      })
      return run()
    }),
  )

  let attempts = 0
  const migrate = async (): Promise<void> => {
    attempts++
    const report = await tracer.untraced(() => migrateToLatest(database))
    let failure: unknown = report.ok ? undefined : report.error
    let narrowColumns: ReadonlyMap<string, string> = new Map()
    if (report.ok) {
      try {
        narrowColumns = await tracer.untraced(() => learnColumnCharsets(database))
      } catch (error) {
        failure = error
      }
    }
    if (stopped) return
    if (failure === undefined) {
      schema = { ready: true, lastError: undefined }
      version = await tracer.untraced(() => database.serverVersion())
      log.info('database schema is up to date', { database: database.label, applied: report.applied })
      if (narrowColumns.size > 0) {
        log.warn('the users table cannot store every character; values it cannot hold are answered 400', {
          database: database.label,
          columns: Object.fromEntries(narrowColumns),
        })
      }
      outbox = startOutboxDeliverer(
        { db: database.db, client: notifications, log: log.child({ component: 'outbox' }), tracer },
        options.outbox,
      )
      return
    }
    const { reason, hint } = describeDatabaseError(failure)
    schema = { ready: false, lastError: reason }
    // Back off to at most 30 s, so a long outage is a line every 30 s, not every 2.
    const delay = Math.min(30_000, retryMs * 2 ** Math.min(attempts - 1, 10))
    log.warn('database migration failed; retrying', {
      database: database.label,
      retryInMs: delay,
      reason,
      ...(hint ? { hint } : {}),
      error: failure,
    })
    retryTimer = setTimeout(() => {
      migrating = migrate()
    }, delay)
  }
  migrating = migrate()

  // The routes are built before the server that knows each request's peer; they ask it once it runs.
  let server: HttpServer | undefined
  const accountLimit =
    options.accountLimit &&
    createRouteRateLimit({
      limit: options.accountLimit,
      keyOf: (request) => clientAddressOf(request, (r) => server?.peerAddress(r)),
      what: 'Account creation per client address',
    })
  const ready = createReadinessCheck({
    database,
    schema: () => schema,
    outbox: () => outbox,
    log: log.child({ component: 'readiness' }),
  })
  const app = createServiceApp({ log }).use(
    createUsermgmtRoutes({
      database,
      notifications,
      schema: () => schema,
      outbox: () => outbox,
      ready,
      traceHeaderOf: () => tracer.currentTraceHeader(),
      authorizer: options.authorizer,
      accountLimit,
    }),
  )
  const running = startHttpServer(app, {
    port: options.port,
    log,
    middleware: tracer.middleware,
    hostname: options.hostname,
    shutdownTimeoutMs: options.shutdownTimeoutMs,
  })
  server = running
  log.info('usermgmt listening', {
    port: running.port,
    database: database.label,
    notification: options.notificationBaseUrl,
    auth: options.authorizer ? 'jwt' : 'none',
  })

  return runningService(running, async () => {
    stopped = true
    clearTimeout(retryTimer)
    const draining = running.stop()
    await migrating
    // The outbox takes no new entry from now on and finishes the send in flight while the server drains.
    await Promise.all([draining, outbox?.stop()])
    await database.destroy()
    await tracer.close()
    log.info('usermgmt stopped')
  })
}
