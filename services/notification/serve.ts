import type { Logger, NotificationConfig } from '../platform'
import { tracerFromConfig } from '../xray'
import { createSmtpMailer } from './mailer'
import { neverTracedPaths } from './routes'
import { type RunningNotification, startNotification } from './start'

/** `./app serve --role=notification`: SMTP from the contract's AWS_MAIL_SERVER_* variables. */
export function serveNotification(config: NotificationConfig, log: Logger, version: string): RunningNotification {
  return startNotification({
    tracer: tracerFromConfig(config.xray, log, version, { neverSample: neverTracedPaths }),
    mailer: createSmtpMailer(config.mail),
    appVersion: config.appVersion,
    port: config.port,
    log,
    serviceToken: config.serviceToken,
    mailLimit: config.mailLimit,
  })
}
