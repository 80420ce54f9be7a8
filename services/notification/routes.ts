import { hostname, networkInterfaces } from 'node:os'
import { Elysia } from 'elysia'
import {
  answersAtOnce,
  empty,
  idempotencyKey,
  json,
  type Logger,
  mailRequest,
  type RouteRateLimit,
  readJson,
  type ServiceTokenCheck,
  text,
  validateBody,
  validateParam,
} from '../platform'
import { createIdempotencyCache, fingerprintOf } from './idempotency'
import { type Mailer, MailNotSent, type SentMail } from './mailer'
import { uniqueAddresses } from './schemas'

export interface NotificationRouteDeps {
  readonly mailer: Mailer
  /** The version word this track reports (V1, or V2 for the canary). */
  readonly appVersion: string
  readonly log: Logger
  /** Refuses POST /send without the service token (NOTIFICATION_AUTH_TOKEN). @default open */
  readonly requireServiceToken?: ServiceTokenCheck
  /** Limits POST /send per calling token (or peer). @default no limit */
  readonly mailLimit?: RouteRateLimit
}

/** The address Java's InetAddress.getLocalHost() gave in a pod: the first non-internal IPv4. */
function localAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    const found = addresses?.find((a) => a.family === 'IPv4' && !a.internal)
    if (found) return found.address
  }
  return '127.0.0.1'
}

/** Never traced: the kubelet polls the health check every few seconds; traced, it floods the map and costs money. */
export const neverTracedPaths: readonly string[] = ['/notification/health*']

export function createNotificationRoutes(deps: NotificationRouteDeps) {
  const { mailer, appVersion, log } = deps
  const sent = createIdempotencyCache()
  // The token first: a caller without it is refused before it can use up anyone's rate.
  const sendGuards = {
    beforeHandle: [deps.requireServiceToken, deps.mailLimit?.beforeHandle].filter((hook) => hook !== undefined),
    mapResponse: deps.mailLimit ? [deps.mailLimit.mapResponse] : [],
  }

  return new Elysia({ name: 'notification', prefix: '/notification' })
    .get(
      '/health-status',
      answersAtOnce(() => text(`Notification Service is UP and Running - ${appVersion}`)),
    )
    .get(
      '/info',
      answersAtOnce(() =>
        text(
          [
            `Notification Service IP Address: ${localAddress()}`,
            `Hostname: ${hostname()}`,
            `Application Version: ${appVersion}`,
          ].join('\n'),
        ),
      ),
    )
    .get(
      '/xray',
      answersAtOnce(() =>
        json({
          applicationname: 'Notification Microservice',
          appversion: appVersion,
          message: 'Enabled AWS XRay',
        }),
      ),
    )
    .post(
      '/send',
      async ({ request }) => {
        const rawKey = request.headers.get('idempotency-key')
        const key = rawKey === null ? undefined : validateParam(idempotencyKey, rawKey, 'Idempotency-Key')
        const body = validateBody(mailRequest, await readJson(request), 'notificationRequest')
        const mail = {
          to: uniqueAddresses(body.toEmails),
          cc: uniqueAddresses(body.ccEmails),
          bcc: uniqueAddresses(body.bccEmails),
          subject: body.subject ?? '',
          text: body.content ?? '',
        }
        const recipients = mail.to.length + mail.cc.length + mail.bcc.length
        const outcome = await sent.once(key, fingerprintOf(mail), async () => {
          let result: SentMail
          try {
            result = await mailer.send(mail)
          } catch (error) {
            if (error instanceof MailNotSent)
              log.warn('mail not sent', { smtpHost: mailer.host, recipients, ...error.smtp })
            throw error
          }
          log.info('mail accepted by the SMTP server', {
            messageId: result.messageId,
            recipients,
            rejected: result.rejected.length,
          })
        })
        if (outcome === 'replayed') log.info('mail already sent for this idempotency key; not sending again')
        return empty()
      },
      sendGuards,
    )
}
