import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { startConsole, startMailSink } from '../console'
import { createSmtpMailer, localSinkMail, notificationNeverTraced, startNotification } from '../notification'
import { CliProblems, type DevConfig, type Logger, type XrayConfig } from '../platform'
import { createSqliteDatabase, startUsermgmt, usermgmtNeverTraced } from '../usermgmt'
import { createTracer, traceEverything } from '../xray'

export interface DevEnvironment {
  /** What was started and where, one line each, for a person to read. */
  readonly summary: readonly string[]
  readonly usermgmtUrl: string
  readonly notificationUrl: string
  readonly smtpPort: number
  /** The local X-Ray console's page and API. */
  readonly consoleUrl: string
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

const devFromAddress = 'stacksimplify@gmail.com'

function devXray(tracingName: string, daemonPort: number): XrayConfig {
  const daemon = { host: '127.0.0.1', port: daemonPort }
  return {
    enabled: true,
    tracingName,
    daemonUdp: daemon,
    daemonTcp: daemon,
    contextMissing: 'LOG_ERROR',
    collectSqlQueries: true,
    samplingRulesFile: undefined,
    propagators: ['tracecontext', 'baggage', 'xray'],
  }
}

function isAddressInUse(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'EADDRINUSE' || (error instanceof Error && /EADDRINUSE|address already in use/i.test(error.message))
}

/** Starts one listener; a port something else holds becomes one line naming the variable that moves it. */
async function listening<T>(variable: string, port: number, start: () => T | Promise<T>): Promise<T> {
  try {
    return await start()
  } catch (error) {
    if (!isAddressInUse(error)) throw error
    throw new CliProblems([
      `${variable}: port ${port} is already in use (another ./app dev?); stop what holds it, or set ${variable} to a free port (0 picks one)`,
    ])
  }
}

/**
 * `./app dev`: both roles in one process on embedded defaults: an SQLite file instead of MySQL and an
 * in-process SMTP sink instead of SES, so a newcomer needs nothing installed.
 */
export async function startDev(config: DevConfig, log: Logger, version: string): Promise<DevEnvironment> {
  const dataDir = resolve(config.dataDir)
  mkdirSync(dataDir, { recursive: true })
  const sinkLog = log.child({ role: 'mail-sink' })
  const sink = await listening('DEV_SMTP_PORT', config.smtpPort, () =>
    startMailSink({
      port: config.smtpPort,
      onMail: (mail) =>
        sinkLog.info('mail received', {
          id: mail.id,
          from: mail.from,
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
        }),
    }),
  )
  const xrayConsole = await listening('DEV_XRAY_PORT', config.daemonPort, () =>
    startConsole({
      udp: { host: '127.0.0.1', port: config.daemonPort },
      http: { host: '127.0.0.1', port: config.daemonPort },
      mail: () => sink.messages(),
      samplingRules: traceEverything,
      log: log.child({ role: 'console' }),
    }),
  )
  const notification = await listening('DEV_NOTIFICATION_PORT', config.notificationPort, () =>
    startNotification({
      mailer: createSmtpMailer(localSinkMail(sink.port, devFromAddress)),
      appVersion: 'V1',
      tracer: createTracer({
        config: devXray('V1-Notification-Microservice', xrayConsole.udpPort),
        log: log.child({ role: 'notification', component: 'xray' }),
        samplingRules: traceEverything,
        neverSample: notificationNeverTraced,
        centralizedSampling: false,
        version,
      }),
      port: config.notificationPort,
      hostname: '127.0.0.1',
      log: log.child({ role: 'notification' }),
    }),
  )
  const databaseFile = join(dataDir, 'usermgmt.sqlite')
  const usermgmt = await listening('DEV_USERMGMT_PORT', config.usermgmtPort, () =>
    startUsermgmt({
      database: createSqliteDatabase(databaseFile),
      notificationBaseUrl: notification.url,
      tracer: createTracer({
        config: devXray('User-Management-Microservice', xrayConsole.udpPort),
        log: log.child({ role: 'usermgmt', component: 'xray' }),
        samplingRules: traceEverything,
        neverSample: usermgmtNeverTraced,
        centralizedSampling: false,
        version,
      }),
      collectSqlQueries: true,
      port: config.usermgmtPort,
      hostname: '127.0.0.1',
      log: log.child({ role: 'usermgmt' }),
    }),
  )
  const summary = [
    `usermgmt      ${usermgmt.url}/usermgmt/health-status`,
    `notification  ${notification.url}/notification/health-status`,
    `database      ${databaseFile} (SQLite)`,
    `mail sink     smtp://127.0.0.1:${sink.port} (every mail is printed in the log)`,
    `x-ray console ${xrayConsole.url}  (open it: service map, traces, mail; every request is traced)`,
    `try           curl ${usermgmt.url}/usermgmt/notification-xray`,
  ]
  log.info('dev environment ready', {
    console: xrayConsole.url,
    usermgmt: usermgmt.url,
    notification: notification.url,
    database: databaseFile,
    smtpPort: sink.port,
  })
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      await usermgmt.stop()
      await notification.stop()
      await sink.stop()
      await xrayConsole.stop()
    })()
    return stopping
  }
  return {
    summary,
    usermgmtUrl: usermgmt.url,
    notificationUrl: notification.url,
    smtpPort: sink.port,
    consoleUrl: xrayConsole.url,
    stop,
    [Symbol.asyncDispose]: stop,
  }
}
