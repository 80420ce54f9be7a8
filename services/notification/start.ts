import { createServiceApp, type HttpServer, type Logger, startHttpServer } from '../platform'
import type { Mailer } from './mailer'
import { createNotificationRoutes } from './routes'

export interface NotificationOptions {
  readonly mailer: Mailer
  readonly appVersion: string
  /** 0 picks a free port. */
  readonly port: number
  readonly hostname?: string
  readonly log: Logger
  /** @default 10000 */
  readonly shutdownTimeoutMs?: number
}

export interface RunningNotification {
  readonly server: HttpServer
  readonly url: string
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export function createNotificationApp(options: Pick<NotificationOptions, 'mailer' | 'appVersion' | 'log'>) {
  return createServiceApp({ log: options.log }).use(createNotificationRoutes(options))
}

export function startNotification(options: NotificationOptions): RunningNotification {
  const { log, mailer } = options
  const server = startHttpServer(createNotificationApp(options), {
    port: options.port,
    log,
    ...(options.hostname ? { hostname: options.hostname } : {}),
    ...(options.shutdownTimeoutMs ? { shutdownTimeoutMs: options.shutdownTimeoutMs } : {}),
  })
  log.info('notification listening', { port: server.port, smtpHost: mailer.host, appVersion: options.appVersion })
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      await server.stop()
      mailer.close()
      log.info('notification stopped')
    })()
    return stopping
  }
  return { server, url: server.url, stop, [Symbol.asyncDispose]: stop }
}
