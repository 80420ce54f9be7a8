import { readFileSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { flagNames, iamCommand, parseManifestOptions, synthesizeManifests } from '../manifests'
import packageJson from '../package.json' with { type: 'json' }
import { startConsole } from '../services/console'
import { startDev } from '../services/dev'
import { serveNotification } from '../services/notification'
import {
  type ConfigResult,
  createLogger,
  inferRole,
  loadConfig,
  loadDevConfig,
  parseHostPort,
  type Role,
  type RoleConfig,
  roles,
  stopOnSignal,
} from '../services/platform'
import { type Check, checkDeployment, formatChecks } from '../services/status'
import { migrateOnce, serveUsermgmt } from '../services/usermgmt'
import { loadSamplingRules, type SamplingRules, TracingConfigError } from '../services/xray'

const usage = {
  main: `app ${packageJson.version}: the EKS X-Ray course's two microservices in one binary

Usage:
  app serve --role=usermgmt|notification [--port N]   run one role (configured by environment variables)
  app migrate                                         bring the usermgmt database schema up to date, then exit
  app dev [--data-dir DIR]                            both roles, SQLite and a mail sink on one machine
  app manifests [options] | kubectl apply -f -        the whole EKS deployment as YAML (see app manifests --help)
  app status [--namespace NS] [--wait]                is that deployment healthy? (one line per check)
  app console [--udp H:P] [--http H:P] [--forward H:P] a local X-Ray daemon stand-in with a service map page
  app --version                                       print the version
  app <command> --help                                help for one command`,
  serve: `Usage: app serve --role=usermgmt|notification [--port N]

Runs one role. Configuration comes from the environment, with the names of the original services
(DB_HOSTNAME, DB_PORT, DB_NAME, DB_USERNAME, DB_PASSWORD, NOTIFICATION_SERVICE_HOST/PORT for usermgmt;
AWS_MAIL_SERVER_HOST/PORT/TLS/USERNAME/PASSWORD/FROM_ADDRESS and APP_VERSION for notification;
AWS_XRAY_* and LOG_LEVEL for both). Without --role the role follows from the environment, as when the
course's manifests start the image without arguments.

Options:
  --role ROLE   usermgmt (port 8095) or notification (port 8096)
  --port N      listen on N instead of the role's port (0 picks a free one)
  --sampling-rules FILE
                X-Ray local sampling rules (version-2 JSON), in place of AWS_XRAY_SAMPLING_RULES
  -h, --help    this help`,
  migrate: `Usage: app migrate

Creates or adopts the usermgmt schema in the database named by DB_HOSTNAME, DB_PORT, DB_NAME,
DB_USERNAME and DB_PASSWORD, then exits: 0 when up to date, 1 when a migration failed.
The server also runs this at start-up; replicas take a MySQL named lock so they never race.

Options:
  -h, --help    this help`,
  dev: `Usage: app dev [--data-dir DIR]

Runs both roles in one process on their usual ports (8095, 8096), on an embedded SQLite database
file and an in-process SMTP sink (port 1025) that prints every mail it receives, every request traced
to the local X-Ray console (http://127.0.0.1:2000: service map, traces, mail). Needs nothing installed.
Ctrl-C stops it. Environment: DEV_USERMGMT_PORT, DEV_NOTIFICATION_PORT, DEV_SMTP_PORT, DEV_XRAY_PORT,
DEV_DATA_DIR, LOG_LEVEL (a port of 0 picks a free one).

Options:
  --data-dir DIR  where the SQLite file lives (default .app-dev)
  -h, --help      this help`,
  manifests: `Usage: app manifests [options] | kubectl apply -f -

Prints the course's whole EKS deployment (X-Ray daemon, both roles, Services, Ingress, hardening) as YAML.
Options may also come from a YAML or JSON file (--values FILE, keys as below in camelCase); flags win.
Secrets never come from flags: DB_PASSWORD, AWS_MAIL_SERVER_USERNAME and AWS_MAIL_SERVER_PASSWORD are read from
the environment into Secret objects, or --db-secret / --smtp-secret name Secrets that already exist.

Options:
  --xray-role-arn ARN     IAM role for the daemon's service account (IRSA)     required unless --pod-identity
  --pod-identity          EKS Pod Identity instead of IRSA (no annotation)
  --certificate-arn ARN   ACM certificate for the ALB's HTTPS listener          required
  --host NAME             a DNS name for the ALB (repeatable; ExternalDNS)      required
  --db-host NAME          the RDS endpoint behind the mysql ExternalName        required
  --db-name NAME          database                                              default usermgmt
  --db-user NAME          database user                                         default dbadmin
  --smtp-host NAME        SMTP endpoint behind smtp-service                     default email-smtp.us-east-1.amazonaws.com
  --from-address EMAIL    From of every mail                                    required
  --image REF             this app's image                                      default xray-eks-app:latest
  --namespace NAME        namespace                                             default default
  --replicas N            replicas per role                                     default 1
  --canary V1:V2          run the V2 notification track with this replica split
  --daemon-image REF      X-Ray daemon image                                    default public.ecr.aws/xray/aws-xray-daemon:3.6.6
  --daemon-address MODE   node (each pod's node daemon) or service (xray-service)  default node
  --fargate               daemon as a sidecar in each pod (Fargate runs no DaemonSets)
  --region REGION         region in the daemon's config                         default us-east-1
  --cluster NAME          EKS cluster (aws.eks in traces, --print-iam)          default eksdemo1
  --db-secret NAME        use this existing Secret (key db-password)
  --smtp-secret NAME      use this existing Secret (keys username, password)
  --hpa-max N             add a HorizontalPodAutoscaler per role, up to N replicas
  --values FILE           read options from a YAML or JSON file
  --print-iam             print the eksctl (or Pod Identity) command for the daemon's IAM role instead
  -h, --help              this help`,
  status: `Usage: app status [--namespace NS] [--kubeconfig FILE] [--pod-identity] [--wait [--timeout SECONDS]]

Checks what the course checks by hand with kubectl: the X-Ray DaemonSet has every pod ready, its service account
carries the IAM role ARN, both Deployments are available, the Services have ready endpoints, and the Ingress has
an address. One line per check; exit 0 when all pass, 1 when any fails. The kubeconfig is found as kubectl finds
it (KUBECONFIG, ~/.kube/config, or the pod's own service account).

Options:
  --namespace NS      namespace of the deployment                    default default
  --kubeconfig FILE   use this kubeconfig
  --pod-identity      the daemon uses EKS Pod Identity (no role annotation expected)
  --wait              keep checking until all pass, showing progress
  --timeout SECONDS   how long --wait waits                            default 300
  -h, --help          this help`,
  console: `Usage: app console [options]

A stand-in for the X-Ray daemon plus a small X-Ray console: receives segment documents on UDP, answers the SDKs'
centralized sampling calls (POST /GetSamplingRules, /SamplingTargets), joins documents into traces, and serves a
page (service map, traces, timelines, mail) and a JSON API (/api/traces, /api/traces/{id}, /api/service-graph,
/api/mail, /api/stats, POST /api/save) on the TCP address. Malformed datagrams are counted in /api/stats.

Options:
  --udp HOST:PORT          where segments arrive (port 0: any free)  default 127.0.0.1:2000
  --http HOST:PORT         page, API and sampling endpoints          default 127.0.0.1:2000
  --forward HOST:PORT      also send every datagram, unchanged, to a real daemon
  --max-traces N           traces kept, oldest dropped first         default 1000
  --save FILE              POST /api/save writes every trace kept to FILE
  --sampling-rules FILE    rules GetSamplingRules serves (version-2 JSON)
                           default 1 a second then 5%, health checks never
  -h, --help               this help`,
} as const

class UsageError extends Error {}

function out(text: string): void {
  process.stdout.write(`${text}\n`)
}

function fail(problems: readonly string[], code = 2): never {
  for (const problem of problems) process.stderr.write(`app: ${problem}\n`)
  process.exit(code)
}

function parse<const T extends ParseArgsOptionsConfig>(command: string, args: string[], options: T) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } } as const,
      strict: true,
      allowPositionals: false,
    })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const unknown = /^Unknown option '([^']+)'/.exec(message)?.[1]
    const detail = unknown === undefined ? (message.split('. ')[0] ?? message) : `unknown option ${unknown}`
    throw new UsageError(`${detail} for ${command}; see app ${command} --help`)
  }
}

function configOrExit<T>(result: ConfigResult<T>): T {
  if (!result.ok) fail(result.problems)
  return result.config
}

async function serve(args: string[]): Promise<void> {
  const { values } = parse('serve', args, {
    role: { type: 'string' },
    port: { type: 'string' },
    'sampling-rules': { type: 'string' },
  })
  if (values.help) return out(usage.serve)
  const roleFlag = values.role
  if (roleFlag !== undefined && !(roles as readonly string[]).includes(roleFlag)) {
    fail([`unknown role ${JSON.stringify(roleFlag)}: use --role=usermgmt or --role=notification`])
  }
  const role = (roleFlag as Role | undefined) ?? inferRole(process.env)
  if (role === undefined) {
    fail(['serve needs --role=usermgmt or --role=notification (the environment does not tell which)'])
  }
  const config: RoleConfig = configOrExit(
    loadConfig(role, process.env, { port: values.port, samplingRules: values['sampling-rules'] }),
  )
  const log = createLogger({ level: config.logLevel, fields: { role: config.role } })
  const version = packageJson.version
  const running =
    config.role === 'usermgmt' ? serveUsermgmt(config, log, version) : serveNotification(config, log, version)
  await stopOnSignal(running, log)
  process.exit(0)
}

async function migrate(args: string[]): Promise<void> {
  const { values } = parse('migrate', args, {})
  if (values.help) return out(usage.migrate)
  const config = configOrExit(loadConfig('usermgmt', process.env))
  if (config.role !== 'usermgmt') return
  const report = await migrateOnce(config)
  if (!report.ok) {
    const reason = report.error instanceof Error ? report.error.message : String(report.error)
    fail([`migration of ${report.database} failed: ${reason}`], 1)
  }
  out(
    report.applied.length === 0
      ? `${report.database}: schema already up to date`
      : `${report.database}: applied ${report.applied.join(', ')}`,
  )
}

async function dev(args: string[]): Promise<void> {
  const { values } = parse('dev', args, { 'data-dir': { type: 'string' } })
  if (values.help) return out(usage.dev)
  const config = configOrExit(loadDevConfig(process.env, { dataDir: values['data-dir'] }))
  const log = createLogger({ level: config.logLevel, fields: { role: 'dev' } })
  const environment = await startDev(config, log, packageJson.version)
  process.stderr.write(`\n${environment.summary.map((line) => `  ${line}`).join('\n')}\n  stop          Ctrl-C\n\n`)
  await stopOnSignal(environment, log)
  process.exit(0)
}

const manifestFlags = {
  'xray-role-arn': { type: 'string' },
  'pod-identity': { type: 'boolean' },
  'certificate-arn': { type: 'string' },
  host: { type: 'string', multiple: true },
  'db-host': { type: 'string' },
  'db-name': { type: 'string' },
  'db-user': { type: 'string' },
  'smtp-host': { type: 'string' },
  'from-address': { type: 'string' },
  image: { type: 'string' },
  namespace: { type: 'string' },
  replicas: { type: 'string' },
  canary: { type: 'string' },
  'daemon-image': { type: 'string' },
  'daemon-address': { type: 'string' },
  fargate: { type: 'boolean' },
  region: { type: 'string' },
  cluster: { type: 'string' },
  'db-secret': { type: 'string' },
  'smtp-secret': { type: 'string' },
  'hpa-max': { type: 'string' },
  values: { type: 'string' },
  'print-iam': { type: 'boolean' },
} as const

function readValuesFile(file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new UsageError(`--values: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`)
  }
  let parsed: unknown
  try {
    parsed = parseYaml(text)
  } catch (error) {
    throw new UsageError(
      `--values: ${file} is not YAML or JSON: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`--values: ${file} must hold a mapping of options`)
  }
  return parsed as Record<string, unknown>
}

async function manifests(args: string[]): Promise<void> {
  const { values } = parse('manifests', args, manifestFlags)
  if (values.help) return out(usage.manifests)
  const fromFile = values.values === undefined ? {} : readValuesFile(values.values)
  const fromFlags: Record<string, unknown> = {}
  for (const [flag, key] of Object.entries(flagKeys)) {
    const value = (values as Record<string, unknown>)[flag]
    if (value !== undefined) fromFlags[key] = value
  }
  const secrets = {
    dbPassword: process.env['DB_PASSWORD'],
    smtpUsername: process.env['AWS_MAIL_SERVER_USERNAME'],
    smtpPassword: process.env['AWS_MAIL_SERVER_PASSWORD'],
  }
  const result = parseManifestOptions({ ...fromFile, ...fromFlags }, secrets)
  if (!result.ok) fail(result.problems)
  if (values['print-iam']) return out(iamCommand(result.options))
  if (result.options.podIdentity) {
    // stdout stays pure YAML for kubectl; the association the daemon's service account needs goes to stderr.
    process.stderr.write(
      `With Pod Identity, associate the daemon's service account once:\n${iamCommand(result.options)}\n`,
    )
  }
  out(synthesizeManifests(result.options, secrets).trimEnd())
}

/** --flag-name -> optionName, from the one table the manifests module keeps. */
const flagKeys: Record<string, string> = Object.fromEntries(
  Object.entries(flagNames).map(([key, flag]) => [flag.slice(2), key]),
)

async function status(args: string[]): Promise<void> {
  const { values } = parse('status', args, {
    namespace: { type: 'string' },
    kubeconfig: { type: 'string' },
    'pod-identity': { type: 'boolean' },
    wait: { type: 'boolean' },
    timeout: { type: 'string' },
  })
  if (values.help) return out(usage.status)
  const namespace = values.namespace ?? 'default'
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(namespace))
    fail([`--namespace: must be a namespace name (got ${JSON.stringify(namespace)})`])
  const timeout = Number(values.timeout ?? '300')
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 3600) {
    fail([`--timeout: must be whole seconds from 1 to 3600 (got ${JSON.stringify(values.timeout)})`])
  }
  const options = { namespace, podIdentity: values['pod-identity'] ?? false, kubeconfig: values.kubeconfig }
  let checks: Check[]
  try {
    checks = await checkDeployment(options)
  } catch (error) {
    fail([`status: ${error instanceof Error ? error.message : String(error)}`])
  }
  const started = Date.now()
  while (values.wait && checks.some((c) => !c.ok) && Date.now() - started < timeout * 1000) {
    const passing = checks.filter((c) => c.ok).length
    const waiting = checks.filter((c) => !c.ok).map((c) => c.name)
    process.stderr.write(
      `waiting ${Math.round((Date.now() - started) / 1000)}s: ${passing}/${checks.length} ok; not yet: ${waiting.join(', ')}\n`,
    )
    await Bun.sleep(2000)
    checks = await checkDeployment(options)
  }
  out(formatChecks(checks))
  process.exit(checks.every((c) => c.ok) ? 0 : 1)
}

async function xrayConsole(args: string[]): Promise<void> {
  const { values } = parse('console', args, {
    udp: { type: 'string' },
    http: { type: 'string' },
    forward: { type: 'string' },
    'max-traces': { type: 'string' },
    save: { type: 'string' },
    'sampling-rules': { type: 'string' },
  })
  if (values.help) return out(usage.console)
  const problems: string[] = []
  // Where the console listens, port 0 picks a free one (reported in the log), as for ./app dev.
  const address = (flag: string, text: string | undefined, fallback: string | undefined) => {
    if (text === undefined && fallback === undefined) return undefined
    const given = (text ?? fallback ?? '').trim()
    const anyPort = fallback !== undefined && /:0+$/.test(given)
    const parsed = parseHostPort(anyPort ? given.replace(/:0+$/, ':1') : given)
    if (!parsed) problems.push(`--${flag}: must be host:port (got ${JSON.stringify(text)})`)
    return parsed && anyPort ? { ...parsed, port: 0 } : parsed
  }
  const udp = address('udp', values.udp, '127.0.0.1:2000')
  const http = address('http', values.http, '127.0.0.1:2000')
  const forward = address('forward', values.forward, undefined)
  const save = values.save
  const isFolder = (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory() === true
  if (save !== undefined && (save.trim() === '' || isFolder(save) || !isFolder(dirname(resolve(save))))) {
    problems.push(`--save: must be a file in a folder that exists (got ${JSON.stringify(save)})`)
  }
  const maxTraces = Number(values['max-traces'] ?? '1000')
  if (!Number.isInteger(maxTraces) || maxTraces < 1 || maxTraces > 1_000_000) {
    problems.push(
      `--max-traces: must be a whole number from 1 to 1000000 (got ${JSON.stringify(values['max-traces'])})`,
    )
  }
  let rules: SamplingRules | undefined
  if (values['sampling-rules'] !== undefined) {
    try {
      rules = loadSamplingRules(values['sampling-rules'])
    } catch (error) {
      problems.push(
        error instanceof Error ? error.message.replace('AWS_XRAY_SAMPLING_RULES', '--sampling-rules') : String(error),
      )
    }
  }
  if (problems.length > 0 || !udp || !http) fail(problems)
  const log = createLogger({ fields: { role: 'console' } })
  const running = await startConsole({
    udp,
    http,
    forward,
    maxTraces,
    saveFile: values.save,
    samplingRules: rules,
    log,
  })
  process.stderr.write(`\n  x-ray console  ${running.url}\n  segments      udp://${udp.host}:${running.udpPort}\n\n`)
  await stopOnSignal(running, log)
  process.exit(0)
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      return out(usage.main)
    case '--version':
    case '-v':
    case 'version':
      return out(packageJson.version)
    case 'serve':
      return serve(rest)
    case 'migrate':
      return migrate(rest)
    case 'dev':
      return dev(rest)
    case 'manifests':
      return manifests(rest)
    case 'status':
      return status(rest)
    case 'console':
      return xrayConsole(rest)
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}; see app --help`)
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError || error instanceof TracingConfigError) fail([error.message])
  const message = error instanceof Error ? error.message : String(error)
  fail([`failed: ${message}`], 1)
})
