// `./app serve`: one role, configured by the environment the original services read. The role follows from
// --role, or from the environment when the course's Deployments start the image without arguments.
import {
  CliProblems,
  type Command,
  createLogger,
  inferRole,
  loadConfig,
  orExit,
  parseFlags,
  printUsage,
  roles,
  stopOnSignal,
} from '../services/platform'

const flags = {
  role: { type: 'string', placeholder: 'usermgmt|notification' },
  port: { type: 'string', placeholder: 'N' },
  'sampling-rules': { type: 'string', placeholder: 'FILE' },
} as const

const usage = `Usage: app serve --role=usermgmt|notification [--port N]

Runs one role. Configuration comes from the environment, with the names of the original services
(DB_HOSTNAME, DB_PORT, DB_NAME, DB_USERNAME, DB_PASSWORD, NOTIFICATION_SERVICE_HOST/PORT for usermgmt;
AWS_MAIL_SERVER_HOST/PORT/TLS/USERNAME/PASSWORD/FROM_ADDRESS and APP_VERSION for notification;
AWS_XRAY_* and LOG_LEVEL for both). Without --role the role follows from the environment, as when the
course's manifests start the image without arguments. Tokens and rate limits (AUTH_MODE, AUTH_JWT_*,
NOTIFICATION_AUTH_TOKEN, RATE_LIMIT_*) are described in docs/security.md.

Options:
  --role ROLE   usermgmt (port 8095) or notification (port 8096)
  --port N      listen on N instead of the role's port (0 picks a free one)
  --sampling-rules FILE
                X-Ray local sampling rules (version-2 JSON), in place of AWS_XRAY_SAMPLING_RULES
  -h, --help    this help`

export const serveCommand: Command = {
  usage,
  async run(args, { env, version }) {
    const values = orExit(parseFlags('serve', args, flags))
    if (values.help) return printUsage(usage)
    const roleFlag = values.role
    const role = roleFlag === undefined ? inferRole(env) : roles.find((known) => known === roleFlag)
    if (roleFlag !== undefined && role === undefined) {
      throw new CliProblems([`unknown role ${JSON.stringify(roleFlag)}: use --role=usermgmt or --role=notification`])
    }
    if (role === undefined) {
      throw new CliProblems([
        'serve needs --role=usermgmt or --role=notification (the environment does not tell which: set DB_HOSTNAME for usermgmt or AWS_MAIL_SERVER_HOST for notification)',
      ])
    }
    const config = orExit(loadConfig(role, env, { port: values.port, samplingRules: values['sampling-rules'] }))
    const log = createLogger({ level: config.logLevel, fields: { role: config.role } })
    // Only the role that runs is loaded: the other's libraries (mysql2 and Kysely, or nodemailer) cost start-up time.
    const running =
      config.role === 'usermgmt'
        ? (await import('../services/usermgmt')).serveUsermgmt(config, log, version)
        : (await import('../services/notification')).serveNotification(config, log, version)
    await stopOnSignal(running, log)
    return 0
  },
}
