import { z } from 'zod'

// Every value the course told users to edit by hand is an option here; secrets are not (see secrets below).
const hostname = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(
    /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
    'must be a host name',
  )
const dnsLabel = z
  .string()
  .trim()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a lowercase DNS label (a-z, 0-9, -)')
const image = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9._/:@-]{0,254}$/, 'must be an image reference (registry/name:tag)')

export const defaultDaemonImage = 'public.ecr.aws/xray/aws-xray-daemon:3.6.6'
export const defaultSmtpHost = 'email-smtp.us-east-1.amazonaws.com'

export const manifestOptionsSchema = z
  .object({
    /** IAM role for the X-Ray daemon's service account (IRSA); not used with podIdentity. */
    xrayRoleArn: z
      .string()
      .trim()
      .regex(
        /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
        'must be an IAM role ARN (arn:aws:iam::123456789012:role/name)',
      )
      .optional(),
    /** Use EKS Pod Identity instead of IRSA: no annotation; the association is printed as a command. */
    podIdentity: z.boolean().default(false),
    certificateArn: z
      .string({ error: (i) => (i.input === undefined ? 'is required' : 'must be text') })
      .trim()
      .regex(
        /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/,
        'must be an ACM certificate ARN (arn:aws:acm:region:123456789012:certificate/uuid)',
      ),
    hosts: z.array(hostname, { error: 'is required' }).min(1, 'is required (at least one --host)'),
    dbHost: hostname.or(z.undefined()).refine((v) => v !== undefined, 'is required (the RDS endpoint)'),
    dbName: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9_$]{1,64}$/, 'must be a database name')
      .default('usermgmt'),
    dbUser: z.string().trim().min(1).max(80).default('dbadmin'),
    smtpHost: hostname.default(defaultSmtpHost),
    fromAddress: z
      .string({ error: (i) => (i.input === undefined ? 'is required' : 'must be text') })
      .pipe(z.email('must be an e-mail address')),
    image: image.default('xray-eks-app:latest'),
    namespace: dnsLabel.default('default'),
    replicas: z.coerce.number().int('must be a whole number').min(1).max(50).default(1),
    /** V1:V2 replica split for the canary notification track. */
    canary: z
      .string()
      .regex(/^\d{1,2}:\d{1,2}$/, 'must be V1:V2 replica counts, e.g. 2:2')
      .transform((text) => {
        const [v1, v2] = text.split(':').map(Number)
        return { v1: v1 ?? 1, v2: v2 ?? 1 }
      })
      .optional(),
    daemonImage: image.default(defaultDaemonImage),
    /** node: each pod's own node's daemon (status.hostIP); service: the course's xray-service.<ns>:2000. */
    daemonAddress: z.enum(['node', 'service'], { error: 'must be node or service' }).default('node'),
    /** Run the daemon as a sidecar in each pod (Fargate runs no DaemonSets). */
    fargate: z.boolean().default(false),
    region: z
      .string()
      .trim()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region, e.g. us-east-1')
      .default('us-east-1'),
    cluster: dnsLabel.default('eksdemo1'),
    /** Refer to an existing Secret (key db-password) instead of generating one from DB_PASSWORD. */
    dbSecret: dnsLabel.optional(),
    /** Refer to an existing Secret (keys username, password) instead of generating one from AWS_MAIL_SERVER_*. */
    smtpSecret: dnsLabel.optional(),
    /** Add a HorizontalPodAutoscaler per role, up to this many replicas. */
    hpaMax: z.coerce.number().int().min(2).max(100).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (!o.podIdentity && o.xrayRoleArn === undefined) {
      ctx.addIssue({ code: 'custom', path: ['xrayRoleArn'], message: 'is required (or --pod-identity)' })
    }
  })

export type ManifestOptions = z.infer<typeof manifestOptionsSchema> & { readonly dbHost: string }

/** Secret values come only from the environment the roles read, never from flags or values files. */
export interface ManifestSecrets {
  readonly dbPassword: string | undefined
  readonly smtpUsername: string | undefined
  readonly smtpPassword: string | undefined
}

/** The flag spelling of each option, for messages and --help. */
export const flagNames: Record<string, string> = {
  xrayRoleArn: '--xray-role-arn',
  podIdentity: '--pod-identity',
  certificateArn: '--certificate-arn',
  hosts: '--host',
  dbHost: '--db-host',
  dbName: '--db-name',
  dbUser: '--db-user',
  smtpHost: '--smtp-host',
  fromAddress: '--from-address',
  image: '--image',
  namespace: '--namespace',
  replicas: '--replicas',
  canary: '--canary',
  daemonImage: '--daemon-image',
  daemonAddress: '--daemon-address',
  fargate: '--fargate',
  region: '--region',
  cluster: '--cluster',
  dbSecret: '--db-secret',
  smtpSecret: '--smtp-secret',
  hpaMax: '--hpa-max',
}

export type OptionsResult =
  | { readonly ok: true; readonly options: ManifestOptions }
  | { readonly ok: false; readonly problems: readonly string[] }

/** Validates options (from flags, a values file, or both merged), one problem per line, named as flags. */
export function parseManifestOptions(input: Record<string, unknown>, secrets: ManifestSecrets): OptionsResult {
  const parsed = manifestOptionsSchema.safeParse(input)
  const problems: string[] = []
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '')
      const name =
        flagNames[key] ?? (issue.code === 'unrecognized_keys' ? `unknown option ${issue.keys.join(', ')}` : key)
      problems.push(`${name}: ${issue.message}`)
    }
    return { ok: false, problems }
  }
  const options = parsed.data as ManifestOptions
  if (options.dbSecret === undefined && !secrets.dbPassword) {
    problems.push(
      'DB_PASSWORD: is required in the environment to generate the database Secret (or pass --db-secret NAME)',
    )
  }
  if (options.smtpSecret === undefined && (!secrets.smtpUsername || !secrets.smtpPassword)) {
    problems.push(
      'AWS_MAIL_SERVER_USERNAME, AWS_MAIL_SERVER_PASSWORD: are required in the environment to generate the SMTP Secret (or pass --smtp-secret NAME)',
    )
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, options }
}
