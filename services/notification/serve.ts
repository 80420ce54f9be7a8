import type { Logger, NotificationConfig } from '../platform'
import { createSmtpMailer } from './mailer'
import { type RunningNotification, startNotification } from './start'

/** `./app serve --role=notification`: SMTP from the contract's AWS_MAIL_SERVER_* variables. */
export function serveNotification(config: NotificationConfig, log: Logger): RunningNotification {
  return startNotification({
    mailer: createSmtpMailer(config.mail),
    appVersion: config.appVersion,
    port: config.port,
    log,
  })
}
