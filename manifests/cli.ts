// `./app manifests`: the whole EKS deployment as YAML on stdout, for `kubectl apply -f -`.
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import {
  CliProblems,
  type Command,
  type FlagSpecs,
  messageOf,
  orExit,
  parseFlags,
  printUsage,
} from '../services/platform'
import { synthesizeManifests } from './chart'
import { iamCommand } from './iam'
import {
  defaultCollectorImages,
  flagNames,
  iamOptionsOf,
  type ManifestOptions,
  parseIamOptions,
  parseManifestOptions,
} from './options'

const usage = `Usage: app manifests --image REF --auth jwt|none [options] | kubectl apply -f -
       app manifests --print-iam [--cluster NAME] [--region REGION] [--collector NAME]
                     [--pod-identity] [--fargate]

Prints the course's whole EKS deployment (namespaces, the node-local trace collector, both roles, Services,
Ingress, hardening) as YAML. Options may also come from a YAML or JSON file (--values FILE, keys as below in
camelCase); flags win. Secrets never come from flags: DB_PASSWORD, AWS_MAIL_SERVER_USERNAME,
AWS_MAIL_SERVER_PASSWORD and NOTIFICATION_AUTH_TOKEN are read from the environment into Secret objects,
or --db-secret, --smtp-secret and --notification-token-secret name Secrets that already exist. A
combination that would not work on EKS is refused with the reason. Checklist: docs/deploying.md.

Required:
  --image REF               this app's image, with registry and tag (not latest) or digest
  --auth jwt|none           jwt: usermgmt wants bearer tokens from your OpenID Connect issuer;
                            none: anyone who reaches the ALB may read and change users
  --jwt-issuer URL          with --auth jwt: the issuer (https)
  --jwt-audience AUD        with --auth jwt: the audience your tokens carry
  --xray-role-arn ARN       IAM role of the collector's service account (IRSA), unless --pod-identity
  --certificate-arn ARN     ACM certificate for the ALB's HTTPS listener, in --region
  --host NAME               a DNS name for the ALB (repeatable; ExternalDNS)
  --db-host NAME            the RDS endpoint
  --from-address EMAIL      From of every mail (an SES identity)

Options:
  --jwks-url URL            the issuer's keys                 default: from its discovery document
  --pod-identity            EKS Pod Identity instead of IRSA (not with --fargate)
  --db-name NAME            database                          default usermgmt
  --db-user NAME            database user                     default dbadmin
  --db-ssl-mode MODE        DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY
                                                              default VERIFY_IDENTITY
  --db-ssl-ca rds           CA of the database's certificate (VERIFY_* only)   default rds
  --smtp-host NAME          SES SMTP endpoint                 default email-smtp.<region>.amazonaws.com
  --namespace NAME          the app's namespace               default default
  --collector NAME          the node-local trace collector: xray-daemon, cloudwatch-agent or adot
                                                              default xray-daemon
  --exporter NAME           what the roles send it: xray (segments over UDP), otlp (OTLP/HTTP to
                            port 4318) or xray,otlp; otlp needs cloudwatch-agent or adot
                                                              default xray
  --collector-namespace NAME
                            the collector's namespace (not with --fargate)     default xray-system
  --replicas N              replicas per role (usermgmt only with --canary); the HPAs' minimum
                                                              default 1
  --canary V1:V2            the V2 notification track, this replica split (not with --hpa-max)
  --hpa-max N               a HorizontalPodAutoscaler per role, up to N replicas
  --daemon-address MODE     node: each pod's own node's collector; service: any collector
                            (not with --fargate)              default node
  --fargate                 the collector as a native sidecar in each pod (Fargate runs no DaemonSets)
  --collector-image REF     the collector's image             default its official image, pinned:
                            ${defaultCollectorImages['xray-daemon']}
                            ${defaultCollectorImages['cloudwatch-agent']}
                            ${defaultCollectorImages.adot}
  --daemon-image REF        the same, for the X-Ray daemon only (kept for older scripts)
  --region REGION           the collector's region, the SES endpoint, the IAM commands
                                                              default us-east-1
  --cluster NAME            EKS cluster (aws.eks in traces, the IAM commands)   default eksdemo1
  --db-secret NAME          use this existing Secret (key db-password)
  --smtp-secret NAME        use this existing Secret (keys username, password)
  --notification-token-secret NAME
                            use this existing Secret (key token)
  --values FILE             read options from a YAML or JSON file
  --print-iam               print the commands that make the collector's IAM role (IRSA, or the Pod
                            Identity association) instead; reads only --cluster, --region,
                            --namespace, --collector-namespace, --fargate, --pod-identity,
                            --collector and --iam-role-name (a --values file may hold the others)
  --iam-role-name NAME      the role --print-iam makes
                            default <collector's account>-<cluster>-<namespace>, e.g.
                            xray-daemon-eksdemo1-xray-system
  -h, --help                this help`

const flags = {
  image: { type: 'string', placeholder: 'REF' },
  auth: { type: 'string', placeholder: 'jwt|none' },
  'jwt-issuer': { type: 'string', placeholder: 'URL' },
  'jwt-audience': { type: 'string', placeholder: 'AUD' },
  'jwks-url': { type: 'string', placeholder: 'URL' },
  'xray-role-arn': { type: 'string', placeholder: 'ARN' },
  'pod-identity': { type: 'boolean' },
  'certificate-arn': { type: 'string', placeholder: 'ARN' },
  host: { type: 'string', multiple: true, placeholder: 'NAME' },
  'db-host': { type: 'string', placeholder: 'NAME' },
  'db-name': { type: 'string', placeholder: 'NAME' },
  'db-user': { type: 'string', placeholder: 'NAME' },
  'db-ssl-mode': { type: 'string', placeholder: 'MODE' },
  'db-ssl-ca': { type: 'string', placeholder: 'rds' },
  'smtp-host': { type: 'string', placeholder: 'NAME' },
  'from-address': { type: 'string', placeholder: 'EMAIL' },
  namespace: { type: 'string', placeholder: 'NAME' },
  'collector-namespace': { type: 'string', placeholder: 'NAME' },
  replicas: { type: 'string', placeholder: 'N' },
  canary: { type: 'string', placeholder: 'V1:V2' },
  'hpa-max': { type: 'string', placeholder: 'N' },
  collector: { type: 'string', placeholder: 'NAME' },
  exporter: { type: 'string', placeholder: 'NAME' },
  'collector-image': { type: 'string', placeholder: 'REF' },
  'daemon-image': { type: 'string', placeholder: 'REF' },
  'daemon-address': { type: 'string', placeholder: 'node|service' },
  fargate: { type: 'boolean' },
  region: { type: 'string', placeholder: 'REGION' },
  cluster: { type: 'string', placeholder: 'NAME' },
  'db-secret': { type: 'string', placeholder: 'NAME' },
  'smtp-secret': { type: 'string', placeholder: 'NAME' },
  'notification-token-secret': { type: 'string', placeholder: 'NAME' },
  values: { type: 'string', placeholder: 'FILE' },
  'print-iam': { type: 'boolean' },
  'iam-role-name': { type: 'string', placeholder: 'NAME' },
} as const satisfies FlagSpecs

function readValuesFile(file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new CliProblems([`--values: cannot read ${file}: ${messageOf(error)}`])
  }
  let parsed: unknown
  try {
    parsed = parseYaml(text)
  } catch (error) {
    throw new CliProblems([`--values: ${file} is not YAML or JSON: ${messageOf(error)}`])
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CliProblems([`--values: ${file} must hold a mapping of options`])
  }
  return Object.fromEntries(Object.entries(parsed))
}

/** --flag-name -> optionName, from the one table the options module keeps. */
const flagKeys: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(flagNames).map(([key, flag]) => [flag.slice(2), key]),
)

/** What the Ingress opens to the internet without authentication, said once where the operator sees it. */
function authNoneWarning(o: ManifestOptions): string {
  return `warning: --auth none: through ${o.hosts.join(', ')} anyone can list, create and delete users and have account mail sent from ${o.fromAddress} to any address`
}

export const manifestsCommand: Command = {
  usage,
  async run(args, { env }) {
    const values = orExit(parseFlags('manifests', args, flags))
    if (values.help) return printUsage(usage)
    const fromFile = values.values === undefined ? {} : readValuesFile(values.values)
    const fromFlags: Record<string, unknown> = {}
    for (const [flag, value] of Object.entries(values)) {
      const key = flagKeys[flag]
      if (key !== undefined && value !== undefined) fromFlags[key] = value
    }
    const input = { ...fromFile, ...fromFlags }
    if (values['print-iam']) {
      const iam = parseIamOptions(input, Object.keys(fromFlags))
      if (!iam.ok) throw new CliProblems(iam.problems)
      process.stdout.write(`${iamCommand(iam.options)}\n`)
      return 0
    }
    const secrets = {
      dbPassword: env['DB_PASSWORD'],
      smtpUsername: env['AWS_MAIL_SERVER_USERNAME'],
      smtpPassword: env['AWS_MAIL_SERVER_PASSWORD'],
      notificationToken: env['NOTIFICATION_AUTH_TOKEN'],
    }
    const result = parseManifestOptions(input, secrets)
    if (!result.ok) throw new CliProblems(result.problems)
    const o = result.options
    // stdout stays pure YAML for kubectl; what the operator must know or do goes to stderr.
    if (o.auth.mode === 'none') process.stderr.write(`${authNoneWarning(o)}\n`)
    if (o.podIdentity) {
      process.stderr.write(
        `With Pod Identity, associate the collector's service account once:\n${iamCommand(iamOptionsOf(o))}\n`,
      )
    }
    process.stdout.write(`${synthesizeManifests(o, secrets).trimEnd()}\n`)
    return 0
  },
}
