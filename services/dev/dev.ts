import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { startConsole, startMailSink } from '../console'
import { createSmtpMailer, localSinkMail, notificationNeverTraced, startNotification } from '../notification'
import {
  CliProblems,
  type DevConfig,
  defaultOtlpConfig,
  defaultPropagators,
  defaultTracingNames,
  type Logger,
  type OtlpProtocol,
  type TracesExporterName,
  type XrayConfig,
} from '../platform'
import { createSqliteDatabase, startUsermgmt, usermgmtNeverTraced } from '../usermgmt'
import { createTracer, exporterFromConfig, traceEverything } from '../xray'

export interface DevEnvironment {
  /** What was started and where, one line each, for a person to read. */
  readonly summary: readonly string[]
  readonly usermgmtUrl: string
  readonly notificationUrl: string
  readonly smtpPort: number
  /** The local X-Ray console's page and API. */
  readonly consoleUrl: string
  /** Where the console takes OTLP/HTTP (…/v1/traces): the roles' OTLP exporter, or any OpenTelemetry app. */
  readonly otlpUrl: string
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

const devFromAddress = 'stacksimplify@gmail.com'

interface DevTracing {
  readonly daemonPort: number
  readonly otlpTracesUrl: string
  readonly exporters: readonly TracesExporterName[]
  readonly protocol: OtlpProtocol
}

function devXray(tracingName: string, tracing: DevTracing): XrayConfig {
  const daemon = { host: '127.0.0.1', port: tracing.daemonPort }
  return {
    enabled: true,
    tracingName,
    daemonUdp: daemon,
    daemonTcp: daemon,
    contextMissing: 'LOG_ERROR',
    collectSqlQueries: true,
    samplingRulesFile: undefined,
    propagators: defaultPropagators,
    exporters: tracing.exporters,
    otlp: {
      ...defaultOtlpConfig,
      endpoint: tracing.otlpTracesUrl,
      protocol: tracing.protocol,
      // The console is on this machine: spans show as soon as the segments would.
      batch: { ...defaultOtlpConfig.batch, scheduleDelayMs: 100 },
    },
  }
}

function isAddressInUse(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'EADDRINUSE' || (error instanceof Error && /EADDRINUSE|address already in use/i.test(error.message))
}

type Listener = readonly [variable: string, port: number]

/**
 * Starts one listener (or the console's several); a port something else holds becomes one line naming the
 * variable that moves it. `byListener` names the variables of a component's other listeners.
 */
async function listening<T>(
  [variable, port]: Listener,
  start: () => T | Promise<T>,
  byListener: Readonly<Record<string, Listener>> = {},
): Promise<T> {
  try {
    return await start()
  } catch (error) {
    if (!isAddressInUse(error)) throw error
    const listener = (error as { listener?: unknown }).listener
    const [name, taken] = (typeof listener === 'string' ? byListener[listener] : undefined) ?? [variable, port]
    throw new CliProblems([
      `${name}: port ${taken} is already in use (another ./app dev?); stop what holds it, or set ${name} to a free port (0 picks one)`,
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
  const sink = await listening(['DEV_SMTP_PORT', config.smtpPort], () =>
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
  const otlpPort = config.otlpPort ?? 0
  const xrayConsole = await listening(
    ['DEV_XRAY_PORT', config.daemonPort],
    () =>
      startConsole({
        udp: { host: '127.0.0.1', port: config.daemonPort },
        http: { host: '127.0.0.1', port: config.daemonPort },
        otlp: { host: '127.0.0.1', port: otlpPort },
        mail: () => sink.messages(),
        samplingRules: traceEverything,
        log: log.child({ role: 'console' }),
      }),
    { otlp: ['DEV_OTLP_PORT', otlpPort] },
  )
  const otlpUrl = xrayConsole.otlpUrl ?? ''
  const tracing: DevTracing = {
    daemonPort: xrayConsole.udpPort,
    otlpTracesUrl: `${otlpUrl}/v1/traces`,
    exporters: config.exporters ?? ['xray'],
    protocol: config.otlpProtocol ?? defaultOtlpConfig.protocol,
  }
  const tracerFor = (role: string, tracingName: string, neverSample: readonly string[]) => {
    const tracerLog = log.child({ role, component: 'xray' })
    const xray = devXray(tracingName, tracing)
    return createTracer({
      config: xray,
      log: tracerLog,
      exporter: exporterFromConfig(xray, { log: tracerLog, version }),
      samplingRules: traceEverything,
      neverSample,
      centralizedSampling: false,
      version,
    })
  }
  const notification = await listening(['DEV_NOTIFICATION_PORT', config.notificationPort], () =>
    startNotification({
      mailer: createSmtpMailer(localSinkMail(sink.port, devFromAddress)),
      appVersion: 'V1',
      tracer: tracerFor('notification', defaultTracingNames.notification, notificationNeverTraced),
      port: config.notificationPort,
      hostname: '127.0.0.1',
      log: log.child({ role: 'notification' }),
    }),
  )
  const databaseFile = join(dataDir, 'usermgmt.sqlite')
  const usermgmt = await listening(['DEV_USERMGMT_PORT', config.usermgmtPort], () =>
    startUsermgmt({
      database: createSqliteDatabase(databaseFile),
      notificationBaseUrl: notification.url,
      tracer: tracerFor('usermgmt', defaultTracingNames.usermgmt, usermgmtNeverTraced),
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
    `traces        OTEL_TRACES_EXPORTER=${tracing.exporters.join(',') || 'none'}  (xray, otlp, xray,otlp or none)`,
    `otlp/http     ${otlpUrl}/v1/traces  (any OpenTelemetry SDK can send here too)`,
    `try           curl ${usermgmt.url}/usermgmt/notification-xray`,
  ]
  log.info('dev environment ready', {
    console: xrayConsole.url,
    otlp: otlpUrl,
    exporters: tracing.exporters,
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
    otlpUrl,
    stop,
    [Symbol.asyncDispose]: stop,
  }
}
