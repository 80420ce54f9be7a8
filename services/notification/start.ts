import {
  createRouteRateLimit,
  createServiceApp,
  createServiceTokenCheck,
  type HttpServer,
  type Logger,
  mailDeliveryDeadlineMs,
  peerKeyOf,
  type RateLimitConfig,
  type RunningService,
  runningService,
  type Secret,
  startHttpServer,
} from '../platform'
import { createDisabledTracer, type Tracer } from '../xray'
import type { Mailer } from './mailer'
import { createNotificationRoutes } from './routes'

export interface NotificationOptions {
  readonly mailer: Mailer
  readonly appVersion: string
  /** 0 picks a free port. */
  readonly port: number
  readonly hostname?: string
  readonly log: Logger
  /** How long a stop waits for in-flight sends; above a send's whole budget. @default mailDeliveryDeadlineMs */
  readonly shutdownTimeoutMs?: number
  /** The X-Ray layer. @default tracing off */
  readonly tracer?: Tracer
  /** What POST /notification/send requires as `Authorization: Bearer` (NOTIFICATION_AUTH_TOKEN). @default open */
  readonly serviceToken?: Secret
  /** Mails per calling token (per peer address without a token). @default no limit */
  readonly mailLimit?: RateLimitConfig
}

export type RunningNotification = RunningService

/** Each mail is one `remote` subsegment named by the SMTP host, with the server's reply code; no addresses. */
function tracedMailer(mailer: Mailer, tracer: Tracer): Mailer {
  return {
    host: mailer.host,
    close: () => mailer.close(),
    send: (mail) =>
      tracer.trace('smtp', mailer.host, async (span) => {
        const sent = await mailer.send(mail)
        if (sent.responseCode !== undefined) span.annotate('smtp_response_code', sent.responseCode)
        return sent
      }),
  }
}

export function startNotification(options: NotificationOptions): RunningNotification {
  const { mailer } = options
  const tracer = options.tracer ?? createDisabledTracer()
  const log = options.log.withContext(tracer.logFields)
  // The routes are built before the server that knows each request's peer; they ask it once it runs.
  let server: HttpServer | undefined
  const { serviceToken } = options
  const mailLimit =
    options.mailLimit &&
    createRouteRateLimit({
      limit: options.mailLimit,
      // With a token every accepted caller holds the same one, so the token is the key; without, the peer.
      keyOf: serviceToken ? () => 'service-token' : (request) => peerKeyOf(request, (r) => server?.peerAddress(r)),
      what: serviceToken ? 'Mail sending per service token' : 'Mail sending per caller address',
    })
  const app = createServiceApp({ log }).use(
    createNotificationRoutes({
      mailer: tracedMailer(mailer, tracer),
      appVersion: options.appVersion,
      log,
      requireServiceToken: serviceToken && createServiceTokenCheck(serviceToken, 'notification'),
      mailLimit,
    }),
  )
  const running = startHttpServer(app, {
    port: options.port,
    log,
    middleware: tracer.middleware,
    hostname: options.hostname,
    // A send that started just before SIGTERM runs to its end (at most its budget) and gets its answer.
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? mailDeliveryDeadlineMs,
  })
  server = running
  log.info('notification listening', {
    port: running.port,
    smtpHost: mailer.host,
    appVersion: options.appVersion,
    serviceToken: serviceToken ? 'required' : 'not required',
  })
  return runningService(running, async () => {
    await running.stop()
    mailer.close()
    await tracer.close()
    log.info('notification stopped')
  })
}
