// `./app dev`: both roles, SQLite, a mail sink and the console on one machine, on embedded defaults.
import { type Command, createLogger, loadDevConfig, orExit, parseFlags, printUsage, stopOnSignal } from '../platform'
import { startDev } from './dev'

const usage = `Usage: app dev [--data-dir DIR]

Runs both roles in one process on their usual ports (8095, 8096), on an embedded SQLite database
file and an in-process SMTP sink (port 1025) that prints every mail it receives, every request traced
to the local X-Ray console (http://127.0.0.1:2000: service map, traces, mail), which also takes
OTLP/HTTP from any OpenTelemetry app (http://127.0.0.1:4318/v1/traces). Needs nothing installed.
Ctrl-C stops it. Environment: DEV_USERMGMT_PORT, DEV_NOTIFICATION_PORT, DEV_SMTP_PORT, DEV_XRAY_PORT,
DEV_OTLP_PORT, DEV_DATA_DIR, LOG_LEVEL (a port of 0 picks a free one); OTEL_TRACES_EXPORTER (xray, the
default, otlp, or xray,otlp) and OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf or http/json) choose how the
roles send their traces to the console.

Options:
  --data-dir DIR  where the SQLite file lives (default .app-dev)
  -h, --help      this help`

export const devCommand: Command = {
  usage,
  async run(args, { env, version }) {
    const values = orExit(parseFlags('dev', args, { 'data-dir': { type: 'string', placeholder: 'DIR' } }))
    if (values.help) return printUsage(usage)
    const config = orExit(loadDevConfig(env, { dataDir: values['data-dir'] }))
    const log = createLogger({ level: config.logLevel, fields: { role: 'dev' } })
    const environment = await startDev(config, log, version)
    process.stderr.write(`\n${environment.summary.map((line) => `  ${line}`).join('\n')}\n  stop          Ctrl-C\n\n`)
    await stopOnSignal(environment, log)
    return 0
  },
}
