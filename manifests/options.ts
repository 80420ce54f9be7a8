import { z } from 'zod'
import { defaultAppNamespace, defaultCollectorNamespace, dnsLabelPattern } from '../services/platform'
import { type CollectorKind, collectorKinds, collectors } from './wiring'

// Every value the course told users to edit by hand is an option here; secrets are not (see ManifestSecrets).
// Each option is checked on its own first, then the rules between options, so that one run names every problem.

const hostname = z
  .string({ error: (i) => (i.input === undefined ? 'is required' : 'must be text') })
  .trim()
  .toLowerCase()
  .max(253)
  .regex(
    /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
    'must be a host name',
  )
const dnsLabel = z
  .string({ error: 'must be text' })
  .trim()
  .regex(dnsLabelPattern, 'must be a lowercase DNS label (a-z, 0-9, -)')

/** registry/name:tag or @digest; a bare name would be pulled from Docker Hub's library, never ours. */
const image = z
  .string({ error: (i) => (i.input === undefined ? 'is required' : 'must be text') })
  .trim()
  .regex(/^[a-z0-9][a-z0-9._/:@-]{0,254}$/, 'must be an image reference (registry/name:tag)')
  .refine(
    (ref) => ref.includes('/'),
    'must include the registry (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/xray-eks-app:0.1.0): a bare name is pulled from Docker Hub',
  )
  .refine((ref) => {
    const tag = /^[^@]*?(?::([\w][\w.-]{0,127}))?(@sha256:[0-9a-f]{64})?$/.exec(ref.slice(ref.lastIndexOf('/')))
    return tag !== null && (tag[2] !== undefined || (tag[1] !== undefined && tag[1] !== 'latest'))
  }, 'must name a tag other than latest, or a digest: every node must run the same build')

const httpsUrl = z
  .string({ error: 'must be text' })
  .trim()
  .pipe(z.url({ protocol: /^https$/, error: 'must be an https URL' }))

const wholeNumber = (min: number, max: number) =>
  z
    .union([z.number(), z.string().trim().regex(/^\d+$/).transform(Number)], {
      error: `must be a whole number from ${min} to ${max}`,
    })
    .pipe(
      z
        .number()
        .int()
        .min(min, `must be a whole number from ${min} to ${max}`)
        .max(max, `must be a whole number from ${min} to ${max}`),
    )

const flag = z.boolean({ error: 'must be true or false' })

/** Each collector's official image, pinned by tag so that every node runs the same build. */
export const defaultCollectorImages: Readonly<Record<CollectorKind, string>> = {
  'xray-daemon': 'public.ecr.aws/xray/aws-xray-daemon:3.6.6',
  'cloudwatch-agent': 'public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300072.0b1766',
  adot: 'public.ecr.aws/aws-observability/aws-otel-collector:v0.50.0',
}

/** OTEL_TRACES_EXPORTER of the roles: X-Ray segments over UDP, OTLP/HTTP, or both. */
export const tracesExporters = ['xray', 'otlp', 'xray,otlp'] as const
export type TracesExporter = (typeof tracesExporters)[number]

export const sendsOtlp = (exporter: TracesExporter) => exporter !== 'xray'
export const dbSslModes = ['DISABLED', 'PREFERRED', 'REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY'] as const
export type DbSslMode = (typeof dbSslModes)[number]

/** SES SMTP credentials work only against the endpoint of the region they were made in. */
export function sesSmtpHost(region: string): string {
  return `email-smtp.${region}.amazonaws.com`
}

/** The ARN partition of a region (IAM policy ARNs differ in China and GovCloud). */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn'
  if (region.startsWith('us-gov-')) return 'aws-us-gov'
  return 'aws'
}

const fields = {
  /** This app's image: required, with its registry and a tag or digest. */
  image,
  /** IAM role for the collector's service account (IRSA); not with podIdentity. */
  xrayRoleArn: z
    .string({ error: 'must be text' })
    .trim()
    .regex(
      /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
      'must be an IAM role ARN (arn:aws:iam::123456789012:role/name)',
    )
    .optional(),
  /** Use EKS Pod Identity instead of IRSA: no annotation; the association is printed as a command. @default false */
  podIdentity: flag.default(false),
  certificateArn: z
    .string({ error: (i) => (i.input === undefined ? 'is required' : 'must be text') })
    .trim()
    .regex(
      /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/,
      'must be an ACM certificate ARN (arn:aws:acm:region:123456789012:certificate/uuid)',
    ),
  hosts: z.array(hostname, { error: 'is required' }).min(1, 'is required (at least one --host)'),
  /** The RDS endpoint. */
  dbHost: hostname,
  /** @default usermgmt */
  dbName: z
    .string({ error: 'must be text' })
    .trim()
    .regex(/^[A-Za-z0-9_$]{1,64}$/, 'must be a database name')
    .default('usermgmt'),
  /** @default dbadmin */
  dbUser: z.string({ error: 'must be text' }).trim().min(1).max(80).default('dbadmin'),
  /** TLS to MySQL, in the MySQL client's words. @default VERIFY_IDENTITY */
  dbSslMode: z.enum(dbSslModes, { error: `must be one of ${dbSslModes.join(', ')}` }).default('VERIFY_IDENTITY'),
  /** The CA that signs the database's certificate; only the RDS set is in the image. @default rds (VERIFY_*) */
  dbSslCa: z
    .enum(['rds'], {
      error: 'must be rds: the image holds only the Amazon RDS CA set (another CA would need its PEM file in the pod)',
    })
    .optional(),
  /** @default email-smtp.<region>.amazonaws.com */
  smtpHost: hostname.optional(),
  fromAddress: z
    .string({ error: (i) => (i.input === undefined ? 'is required' : 'must be text') })
    .pipe(z.email('must be an e-mail address')),
  /** The app's namespace. @default default */
  namespace: dnsLabel.default(defaultAppNamespace),
  /** The collector's own namespace (not on Fargate). @default xray-system */
  collectorNamespace: dnsLabel.optional(),
  /** Replicas per role (usermgmt only with canary), or the HPA's minimum. @default 1 */
  replicas: wholeNumber(1, 50).default(1),
  /** V1:V2 replica split for the canary notification track. */
  canary: z
    .string({ error: 'must be text' })
    .regex(/^\d{1,2}:\d{1,2}$/, 'must be V1:V2 replica counts, e.g. 2:2')
    .transform((text) => {
      const [v1 = 0, v2 = 0] = text.split(':').map(Number)
      return { v1, v2 }
    })
    .refine(({ v1, v2 }) => v1 >= 1 && v2 >= 1, 'must be V1:V2 with each count at least 1')
    .optional(),
  /** Add a HorizontalPodAutoscaler per role, up to this many replicas. */
  hpaMax: wholeNumber(2, 100).optional(),
  /** The node-local trace collector. @default xray-daemon */
  collector: z.enum(collectorKinds, { error: `must be one of ${collectorKinds.join(', ')}` }).default('xray-daemon'),
  /** What the roles send to it: X-Ray segments, OTLP, or both. @default xray */
  exporter: z
    .string({ error: 'must be text' })
    .trim()
    .transform((text) => {
      const names = new Set(text.split(',').map((name) => name.trim().toLowerCase()))
      return names.size === 2 && names.has('xray') && names.has('otlp') ? 'xray,otlp' : [...names].join(',')
    })
    .pipe(z.enum(tracesExporters, { error: 'must be xray, otlp or xray,otlp' }))
    .default('xray'),
  /** The collector's image. @default the official image of --collector, pinned (defaultCollectorImages) */
  collectorImage: image.optional(),
  /** The X-Ray daemon's image, as before --collector-image; only with the X-Ray daemon. */
  daemonImage: image.optional(),
  /** node: this node's collector through xray-service (internalTrafficPolicy Local); service: any. @default node */
  daemonAddress: z.enum(['node', 'service'], { error: 'must be node or service' }).optional(),
  /** Run the collector as a native sidecar in each pod (Fargate runs no DaemonSets). @default false */
  fargate: flag.default(false),
  /** @default us-east-1 */
  region: z
    .string({ error: 'must be text' })
    .trim()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region, e.g. us-east-1')
    .default('us-east-1'),
  /** @default eksdemo1 */
  cluster: z
    .string({ error: 'must be text' })
    .trim()
    .regex(/^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/, 'must be an EKS cluster name')
    .default('eksdemo1'),
  /** Refer to an existing Secret (key db-password) instead of generating one from DB_PASSWORD. */
  dbSecret: dnsLabel.optional(),
  /** Refer to an existing Secret (keys username, password) instead of generating one from AWS_MAIL_SERVER_*. */
  smtpSecret: dnsLabel.optional(),
  /** Refer to an existing Secret (key token) instead of generating one from NOTIFICATION_AUTH_TOKEN. */
  notificationTokenSecret: dnsLabel.optional(),
  /** Who may call usermgmt through the Ingress: bearer tokens from an OpenID Connect issuer, or anyone. */
  auth: z.enum(['jwt', 'none'], {
    error: (i) =>
      i.input === undefined
        ? 'is required: jwt (tokens from your OpenID Connect issuer) or none (anyone who reaches the ALB may read and change users)'
        : 'must be jwt or none',
  }),
  jwtIssuer: httpsUrl.optional(),
  jwtAudience: z
    .string({ error: 'must be text' })
    .trim()
    .regex(/^\S{1,256}$/, 'must be 1 to 256 characters without spaces')
    .optional(),
  jwksUrl: httpsUrl.optional(),
  /** The IAM role --print-iam creates. @default <collector's account>-<cluster>-<namespace of that account> */
  iamRoleName: z
    .string({ error: 'must be text' })
    .trim()
    .regex(/^[\w+=,.@-]{1,64}$/, 'must be an IAM role name (1 to 64 of A-Z a-z 0-9 +=,.@_-)')
    .optional(),
}

type Fields = typeof fields
type FieldValues = { -readonly [K in keyof Fields]: z.output<Fields[K]> }

/** The flag spelling of each option, for messages and --help. */
export const flagNames: Readonly<Record<keyof Fields, string>> = {
  image: '--image',
  xrayRoleArn: '--xray-role-arn',
  podIdentity: '--pod-identity',
  certificateArn: '--certificate-arn',
  hosts: '--host',
  dbHost: '--db-host',
  dbName: '--db-name',
  dbUser: '--db-user',
  dbSslMode: '--db-ssl-mode',
  dbSslCa: '--db-ssl-ca',
  smtpHost: '--smtp-host',
  fromAddress: '--from-address',
  namespace: '--namespace',
  collectorNamespace: '--collector-namespace',
  replicas: '--replicas',
  canary: '--canary',
  hpaMax: '--hpa-max',
  collector: '--collector',
  exporter: '--exporter',
  collectorImage: '--collector-image',
  daemonImage: '--daemon-image',
  daemonAddress: '--daemon-address',
  fargate: '--fargate',
  region: '--region',
  cluster: '--cluster',
  dbSecret: '--db-secret',
  smtpSecret: '--smtp-secret',
  notificationTokenSecret: '--notification-token-secret',
  auth: '--auth',
  jwtIssuer: '--jwt-issuer',
  jwtAudience: '--jwt-audience',
  jwksUrl: '--jwks-url',
  iamRoleName: '--iam-role-name',
}

export type AuthOptions =
  | { readonly mode: 'none' }
  | {
      readonly mode: 'jwt'
      readonly issuer: string
      readonly audience: string
      /** Else the issuer's OpenID discovery document names it. */
      readonly jwksUrl: string | undefined
    }

/** The node-local trace collector. */
export interface CollectorOptions {
  readonly kind: CollectorKind
  readonly image: string
}

/** Where the collector runs when it is not a sidecar. */
export interface DaemonSetOptions {
  readonly namespace: string
  /** node: each pod's own node's collector; service: any collector in the cluster. */
  readonly address: 'node' | 'service'
}

/** Validated options with every default filled in; what the chart is built from. */
export interface ManifestOptions {
  readonly image: string
  readonly collector: CollectorOptions
  /** OTEL_TRACES_EXPORTER of the roles. */
  readonly exporter: TracesExporter
  readonly xrayRoleArn: string | undefined
  readonly podIdentity: boolean
  readonly certificateArn: string
  readonly hosts: readonly string[]
  readonly dbHost: string
  readonly dbName: string
  readonly dbUser: string
  readonly dbSslMode: DbSslMode
  /** Set when the mode checks the server's certificate. */
  readonly dbSslCa: 'rds' | undefined
  readonly smtpHost: string
  readonly fromAddress: string
  readonly namespace: string
  /** The collector's DaemonSet: its namespace and how pods reach it; undefined on Fargate (a sidecar in each pod). */
  readonly daemonSet: DaemonSetOptions | undefined
  readonly fargate: boolean
  readonly replicas: number
  readonly canary: { readonly v1: number; readonly v2: number } | undefined
  readonly hpaMax: number | undefined
  readonly region: string
  readonly cluster: string
  readonly dbSecret: string | undefined
  readonly smtpSecret: string | undefined
  readonly notificationTokenSecret: string | undefined
  readonly auth: AuthOptions
}

/** What `--print-iam` needs: only what the IAM command is made of. */
export interface IamOptions {
  readonly cluster: string
  readonly region: string
  readonly podIdentity: boolean
  /** The collector's service account, which the role is for. */
  readonly serviceAccount: string
  /** The namespace of that service account: the collector's, or the app's on Fargate. */
  readonly serviceAccountNamespace: string
  readonly roleName: string
}

/** Secret values come only from the environment, never from flags or values files. */
export interface ManifestSecrets {
  readonly dbPassword: string | undefined
  readonly smtpUsername: string | undefined
  readonly smtpPassword: string | undefined
  readonly notificationToken: string | undefined
}

export type Parsed<T> = { readonly ok: true; readonly options: T } | { readonly ok: false; readonly problems: string[] }

export type OptionsResult = Parsed<ManifestOptions>

/** The options --print-iam reads; a values file may hold the others, flags may not. */
const iamKeys = [
  'cluster',
  'region',
  'namespace',
  'collectorNamespace',
  'fargate',
  'podIdentity',
  'collector',
  'iamRoleName',
] as const satisfies readonly (keyof Fields)[]

function isField(key: string): key is keyof Fields {
  return Object.hasOwn(fields, key)
}

/** Each option checked on its own: the values that passed, and one line per option that did not. */
function checkFields(input: Readonly<Record<string, unknown>>, keys: readonly (keyof Fields)[]) {
  const values: Partial<FieldValues> = {}
  const problems: string[] = []
  const unknown = Object.keys(input).filter((key) => !isField(key))
  if (unknown.length > 0) problems.push(`unknown option ${unknown.join(', ')} (see app manifests --help)`)
  for (const key of keys) {
    const result = fields[key].safeParse(input[key])
    if (result.success) Object.assign(values, { [key]: result.data })
    else problems.push(`${flagNames[key]}: ${result.error.issues[0]?.message ?? 'is not valid'}`)
  }
  return { values, problems }
}

const given = (input: Readonly<Record<string, unknown>>, key: keyof Fields) => input[key] !== undefined

function defaultRoleName(serviceAccount: string, cluster: string, namespace: string) {
  return `${serviceAccount}-${cluster}-${namespace}`
}

/** The rules between the options that decide where the collector and its service account live. */
function placementProblems(input: Readonly<Record<string, unknown>>, v: Partial<FieldValues>): string[] {
  const problems: string[] = []
  if (v.fargate) {
    if (v.podIdentity) {
      problems.push('--pod-identity: EKS Pod Identity does not work on Fargate; use IRSA (--xray-role-arn) there')
    }
    if (given(input, 'daemonAddress')) {
      problems.push(
        '--daemon-address: on Fargate each pod sends to its own sidecar collector (127.0.0.1); drop the option',
      )
    }
    if (given(input, 'collectorNamespace')) {
      problems.push(
        '--collector-namespace: on Fargate there is no collector namespace (the collector is a sidecar in each pod); drop the option',
      )
    }
  } else if (v.namespace !== undefined && v.namespace === (v.collectorNamespace ?? defaultCollectorNamespace)) {
    problems.push(
      `--namespace, --collector-namespace: must differ (both are ${v.namespace}): the trace collector gets a namespace of its own`,
    )
  }
  return problems
}

function iamFrom(v: Partial<FieldValues>, problems: string[]): IamOptions | undefined {
  const { cluster, region, namespace, podIdentity, fargate, collector } = v
  if (cluster === undefined || region === undefined || namespace === undefined) return undefined
  if (podIdentity === undefined || fargate === undefined || collector === undefined) return undefined
  const serviceAccount = collectors[collector].name
  const serviceAccountNamespace = fargate ? namespace : (v.collectorNamespace ?? defaultCollectorNamespace)
  const roleName = v.iamRoleName ?? defaultRoleName(serviceAccount, cluster, serviceAccountNamespace)
  if (roleName.length > 64) {
    problems.push(
      `--cluster, --namespace: the IAM role name ${roleName} is over 64 characters; pass --iam-role-name NAME`,
    )
    return undefined
  }
  return { cluster, region, podIdentity, serviceAccount, serviceAccountNamespace, roleName }
}

/**
 * Options for --print-iam. `input` is the merged values file and flags; `fromFlags` names the options given as
 * flags, which must all be ones the IAM command uses (a values file describes the whole deployment).
 */
export function parseIamOptions(
  input: Readonly<Record<string, unknown>>,
  fromFlags: readonly string[],
): Parsed<IamOptions> {
  const { values, problems } = checkFields(input, iamKeys)
  const unused = fromFlags.filter((key) => !(iamKeys as readonly string[]).includes(key))
  if (unused.length > 0) {
    problems.push(
      `--print-iam: uses only ${iamKeys.map((key) => flagNames[key]).join(', ')}; drop ${unused
        .map((key) => (isField(key) ? flagNames[key] : key))
        .join(', ')}`,
    )
  }
  problems.push(...placementProblems(input, values))
  const iam = iamFrom(values, problems)
  return problems.length > 0 || iam === undefined ? { ok: false, problems } : { ok: true, options: iam }
}

/** What the IAM command needs, from the options of a deployment (the role name takes its default). */
export function iamOptionsOf(o: ManifestOptions): IamOptions {
  const serviceAccount = collectors[o.collector.kind].name
  const serviceAccountNamespace = o.daemonSet?.namespace ?? o.namespace
  return {
    cluster: o.cluster,
    region: o.region,
    podIdentity: o.podIdentity,
    serviceAccount,
    serviceAccountNamespace,
    roleName: defaultRoleName(serviceAccount, o.cluster, serviceAccountNamespace),
  }
}

/** The rules between the collector, its image and what the roles send it. */
function collectorProblems(input: Readonly<Record<string, unknown>>, v: Partial<FieldValues>): string[] {
  const problems: string[] = []
  if (v.collector === 'xray-daemon' && v.exporter !== undefined && sendsOtlp(v.exporter)) {
    problems.push(
      `--exporter: ${v.exporter} sends OTLP, and the X-Ray daemon has no OTLP receiver; pick --collector cloudwatch-agent or --collector adot`,
    )
  }
  if (given(input, 'daemonImage')) {
    if (given(input, 'collectorImage')) {
      problems.push('--daemon-image, --collector-image: both name the collector image; keep --collector-image')
    } else if (v.collector !== undefined && v.collector !== 'xray-daemon') {
      problems.push(`--daemon-image: is the X-Ray daemon's image; for --collector ${v.collector} use --collector-image`)
    }
  }
  return problems
}

const rdsSuffix = /\.rds\.amazonaws\.com(\.cn)?$/

function combinationProblems(input: Readonly<Record<string, unknown>>, v: Partial<FieldValues>): string[] {
  const problems = [...placementProblems(input, v), ...collectorProblems(input, v)]
  if (v.podIdentity && v.xrayRoleArn !== undefined) {
    problems.push('--xray-role-arn: is for IRSA; with --pod-identity the association names the role, so drop one')
  } else if (v.podIdentity === false && !given(input, 'xrayRoleArn')) {
    problems.push(
      '--xray-role-arn: is required (or --pod-identity); ./app manifests --print-iam prints the command that makes the role',
    )
  }
  if (given(input, 'iamRoleName')) {
    problems.push('--iam-role-name: only used with --print-iam (the manifests take the ARN: --xray-role-arn)')
  }
  const certRegion = /^arn:aws[a-z-]*:acm:([a-z0-9-]+):/.exec(v.certificateArn ?? '')?.[1]
  if (certRegion !== undefined && v.region !== undefined && certRegion !== v.region) {
    problems.push(
      `--certificate-arn: is in ${certRegion} but --region is ${v.region}; the ALB can use only a certificate of its own region`,
    )
  }
  if (v.dbSslMode !== undefined) {
    const verifies = v.dbSslMode === 'VERIFY_CA' || v.dbSslMode === 'VERIFY_IDENTITY'
    if (!verifies && given(input, 'dbSslCa')) {
      problems.push(
        `--db-ssl-ca: only VERIFY_CA and VERIFY_IDENTITY check the server's certificate; with --db-ssl-mode ${v.dbSslMode} it would be ignored`,
      )
    }
    if (v.dbSslMode === 'VERIFY_IDENTITY' && v.dbHost !== undefined && !rdsSuffix.test(v.dbHost)) {
      problems.push(
        `--db-host: VERIFY_IDENTITY checks the certificate against ${v.dbHost}, and RDS certificates name only the RDS endpoint (...rds.amazonaws.com); pass the endpoint, or --db-ssl-mode VERIFY_CA`,
      )
    }
  }
  if (v.canary !== undefined && v.hpaMax !== undefined) {
    problems.push(
      '--canary, --hpa-max: an HPA per track scales V1 and V2 each on its own load, so the V1:V2 split would drift; use one or the other',
    )
  }
  if (v.hpaMax !== undefined && v.replicas !== undefined && v.hpaMax < v.replicas) {
    problems.push(`--hpa-max: must be at least --replicas (${v.replicas}), the autoscaler's minimum`)
  }
  const jwtKeys = ['jwtIssuer', 'jwtAudience', 'jwksUrl'] as const
  if (v.auth === 'jwt') {
    if (!given(input, 'jwtIssuer')) {
      problems.push(
        '--jwt-issuer: is required with --auth jwt (the issuer URL, e.g. https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123)',
      )
    }
    if (!given(input, 'jwtAudience')) {
      problems.push('--jwt-audience: is required with --auth jwt (the aud claim your tokens carry, e.g. the client id)')
    }
  } else if (v.auth === 'none') {
    for (const key of jwtKeys.filter((k) => given(input, k))) {
      problems.push(`${flagNames[key]}: has no effect with --auth none; drop it or use --auth jwt`)
    }
  }
  return problems
}

function secretProblems(v: Partial<FieldValues>, secrets: ManifestSecrets): string[] {
  const problems: string[] = []
  if (v.dbSecret === undefined && !secrets.dbPassword) {
    problems.push(
      'DB_PASSWORD: is required in the environment to generate the database Secret (or pass --db-secret NAME)',
    )
  }
  if (v.smtpSecret === undefined && (!secrets.smtpUsername || !secrets.smtpPassword)) {
    problems.push(
      'AWS_MAIL_SERVER_USERNAME, AWS_MAIL_SERVER_PASSWORD: are required in the environment to generate the SMTP Secret (or pass --smtp-secret NAME)',
    )
  }
  if (v.notificationTokenSecret === undefined) {
    const token = secrets.notificationToken
    if (!token) {
      problems.push(
        'NOTIFICATION_AUTH_TOKEN: is required in the environment to generate the Secret notification-auth-token (make one once with `openssl rand -hex 32` and keep it), or pass --notification-token-secret NAME',
      )
    } else if (token.length < 32) {
      problems.push('NOTIFICATION_AUTH_TOKEN: must be at least 32 characters (`openssl rand -hex 32` makes one)')
    } else if (!/^[\x21-\x7e]+$/.test(token)) {
      problems.push('NOTIFICATION_AUTH_TOKEN: must be printable ASCII without spaces (it travels in a header)')
    }
  }
  return problems
}

/** Fills in the defaults that depend on other options; only called once every option and rule passed. */
function resolve(v: FieldValues): ManifestOptions {
  const verifies = v.dbSslMode === 'VERIFY_CA' || v.dbSslMode === 'VERIFY_IDENTITY'
  const auth: AuthOptions =
    v.auth === 'jwt' && v.jwtIssuer !== undefined && v.jwtAudience !== undefined
      ? { mode: 'jwt', issuer: v.jwtIssuer, audience: v.jwtAudience, jwksUrl: v.jwksUrl }
      : { mode: 'none' }
  return {
    image: v.image,
    collector: {
      kind: v.collector,
      image: v.collectorImage ?? v.daemonImage ?? defaultCollectorImages[v.collector],
    },
    exporter: v.exporter,
    xrayRoleArn: v.xrayRoleArn,
    podIdentity: v.podIdentity,
    certificateArn: v.certificateArn,
    hosts: v.hosts,
    dbHost: v.dbHost,
    dbName: v.dbName,
    dbUser: v.dbUser,
    dbSslMode: v.dbSslMode,
    dbSslCa: verifies ? (v.dbSslCa ?? 'rds') : undefined,
    smtpHost: v.smtpHost ?? sesSmtpHost(v.region),
    fromAddress: v.fromAddress,
    namespace: v.namespace,
    daemonSet: v.fargate
      ? undefined
      : { namespace: v.collectorNamespace ?? defaultCollectorNamespace, address: v.daemonAddress ?? 'node' },
    fargate: v.fargate,
    replicas: v.replicas,
    canary: v.canary,
    hpaMax: v.hpaMax,
    region: v.region,
    cluster: v.cluster,
    dbSecret: v.dbSecret,
    smtpSecret: v.smtpSecret,
    notificationTokenSecret: v.notificationTokenSecret,
    auth,
  }
}

/** Validates options (from flags, a values file, or both merged), one problem per line, named as flags. */
export function parseManifestOptions(
  input: Readonly<Record<string, unknown>>,
  secrets: ManifestSecrets,
): OptionsResult {
  const keys = Object.keys(fields).filter(isField)
  const { values, problems } = checkFields(input, keys)
  problems.push(...combinationProblems(input, values), ...secretProblems(values, secrets))
  if (problems.length > 0) return { ok: false, problems }
  // Every field passed its own schema above, so the whole object is complete.
  return { ok: true, options: resolve(values as FieldValues) }
}
