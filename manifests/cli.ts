// `./app manifests`: the whole EKS deployment as YAML on stdout, for `kubectl apply -f -`.
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { CliProblems, type Command, type FlagSpecs, orExit, parseFlags, printUsage } from '../services/platform'
import { iamCommand, synthesizeManifests } from './chart'
import { flagNames, parseManifestOptions } from './options'

const usage = `Usage: app manifests [options] | kubectl apply -f -

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
  -h, --help              this help`

const flags = {
  'xray-role-arn': { type: 'string', placeholder: 'ARN' },
  'pod-identity': { type: 'boolean' },
  'certificate-arn': { type: 'string', placeholder: 'ARN' },
  host: { type: 'string', multiple: true, placeholder: 'NAME' },
  'db-host': { type: 'string', placeholder: 'NAME' },
  'db-name': { type: 'string', placeholder: 'NAME' },
  'db-user': { type: 'string', placeholder: 'NAME' },
  'smtp-host': { type: 'string', placeholder: 'NAME' },
  'from-address': { type: 'string', placeholder: 'EMAIL' },
  image: { type: 'string', placeholder: 'REF' },
  namespace: { type: 'string', placeholder: 'NAME' },
  replicas: { type: 'string', placeholder: 'N' },
  canary: { type: 'string', placeholder: 'V1:V2' },
  'daemon-image': { type: 'string', placeholder: 'REF' },
  'daemon-address': { type: 'string', placeholder: 'node|service' },
  fargate: { type: 'boolean' },
  region: { type: 'string', placeholder: 'REGION' },
  cluster: { type: 'string', placeholder: 'NAME' },
  'db-secret': { type: 'string', placeholder: 'NAME' },
  'smtp-secret': { type: 'string', placeholder: 'NAME' },
  'hpa-max': { type: 'string', placeholder: 'N' },
  values: { type: 'string', placeholder: 'FILE' },
  'print-iam': { type: 'boolean' },
} as const satisfies FlagSpecs

function readValuesFile(file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new CliProblems([`--values: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`])
  }
  let parsed: unknown
  try {
    parsed = parseYaml(text)
  } catch (error) {
    throw new CliProblems([
      `--values: ${file} is not YAML or JSON: ${error instanceof Error ? error.message : String(error)}`,
    ])
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CliProblems([`--values: ${file} must hold a mapping of options`])
  }
  return Object.fromEntries(Object.entries(parsed))
}

/** --flag-name -> optionName, from the one table the options module keeps. */
const flagKeys: Record<string, string> = Object.fromEntries(
  Object.entries(flagNames).map(([key, flag]) => [flag.slice(2), key]),
)

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
    const secrets = {
      dbPassword: env['DB_PASSWORD'],
      smtpUsername: env['AWS_MAIL_SERVER_USERNAME'],
      smtpPassword: env['AWS_MAIL_SERVER_PASSWORD'],
    }
    const result = parseManifestOptions({ ...fromFile, ...fromFlags }, secrets)
    if (!result.ok) throw new CliProblems(result.problems)
    if (values['print-iam']) {
      process.stdout.write(`${iamCommand(result.options)}\n`)
      return 0
    }
    if (result.options.podIdentity) {
      // stdout stays pure YAML for kubectl; the association the daemon's service account needs goes to stderr.
      process.stderr.write(
        `With Pod Identity, associate the daemon's service account once:\n${iamCommand(result.options)}\n`,
      )
    }
    process.stdout.write(`${synthesizeManifests(result.options, secrets).trimEnd()}\n`)
    return 0
  },
}
