import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import type { Env, Parsed } from './cli'
import { type LogLevel, logLevels } from './logger'
import type { RateLimitConfig } from './rate-limit'
import { Secret } from './secret'

export type Role = 'usermgmt' | 'notification'
export const roles = ['usermgmt', 'notification'] as const

export interface HostPort {
  readonly host: string
  readonly port: number
}

/** The trace headers OTEL_PROPAGATORS may name: W3C traceparent (and tracestate), W3C baggage, X-Amzn-Trace-Id. */
export type Propagator = 'tracecontext' | 'baggage' | 'xray'
const supportedPropagators: readonly Propagator[] = ['tracecontext', 'baggage', 'xray']

/** OTEL_PROPAGATORS unset: every header read and sent. */
export const defaultPropagators: readonly Propagator[] = supportedPropagators

export type ContextMissing = 'LOG_ERROR' | 'RUNTIME_ERROR' | 'IGNORE_ERROR'
export type SmtpTlsMode = 'starttls' | 'tls' | 'none'

export interface XrayConfig {
  /** AWS_XRAY_SDK_ENABLED. @default true */
  readonly enabled: boolean
  /** AWS_XRAY_TRACING_NAME: the segment name. @default the course's name for the role */
  readonly tracingName: string
  /** AWS_XRAY_DAEMON_ADDRESS, UDP for segments. @default 127.0.0.1:2000 */
  readonly daemonUdp: HostPort
  /** The daemon's TCP address for centralized sampling. @default the UDP address */
  readonly daemonTcp: HostPort
  /** AWS_XRAY_CONTEXT_MISSING. @default LOG_ERROR */
  readonly contextMissing: ContextMissing
  /** AWS_XRAY_COLLECT_SQL_QUERIES. @default false */
  readonly collectSqlQueries: boolean
  /** AWS_XRAY_SAMPLING_RULES: a local rules file. @default none */
  readonly samplingRulesFile: string | undefined
  /**
   * OTEL_PROPAGATORS: the trace headers read from requests and sent on calls. @default tracecontext, baggage, xray
   */
  readonly propagators: readonly Propagator[]
  /** The Kubernetes API when running in a pod (KUBERNETES_SERVICE_HOST/PORT), for the EKS metadata. */
  readonly kubernetes?: KubernetesConfig | undefined
  /** OTEL_TRACES_EXPORTER: where finished traces go (empty for `none`). @default ['xray'] */
  readonly exporters?: readonly TracesExporterName[] | undefined
  /** OTEL_EXPORTER_OTLP_* and OTEL_BSP_*: the OTLP exporter's settings. @default defaultOtlpConfig */
  readonly otlp?: OtlpConfig | undefined
  /** OTEL_RESOURCE_ATTRIBUTES, percent-decoded: added to the resource of every OTLP span. @default none */
  readonly resourceAttributes?: Readonly<Record<string, string>> | undefined
}

/** What OTEL_TRACES_EXPORTER may name (`none` is the empty list). */
export const tracesExporterNames = ['xray', 'otlp'] as const
export type TracesExporterName = (typeof tracesExporterNames)[number]

/** OTEL_EXPORTER_OTLP_PROTOCOL: OTLP/HTTP's two encodings (gRPC is not offered). */
export type OtlpProtocol = 'http/protobuf' | 'http/json'

export interface OtlpHeader {
  readonly name: string
  /** Headers carry API keys and tokens: never logged. */
  readonly value: Secret
}

/** The batch span processor's settings (OTEL_BSP_*), in milliseconds and spans. */
export interface OtlpBatchConfig {
  /** OTEL_BSP_SCHEDULE_DELAY: the longest a finished span waits before it is sent. @default 5000 */
  readonly scheduleDelayMs: number
  /** OTEL_BSP_EXPORT_TIMEOUT: the longest one batch may take, retries included. @default 30000 */
  readonly exportTimeoutMs: number
  /** OTEL_BSP_MAX_QUEUE_SIZE: spans held while the collector is slow or away; more are dropped. @default 2048 */
  readonly maxQueueSize: number
  /** OTEL_BSP_MAX_EXPORT_BATCH_SIZE: spans in one request. @default 512 */
  readonly maxExportBatchSize: number
}

export interface OtlpConfig {
  /**
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else OTEL_EXPORTER_OTLP_ENDPOINT with /v1/traces appended.
   * @default http://localhost:4318/v1/traces
   */
  readonly endpoint: string
  /** OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL. @default http/protobuf */
  readonly protocol: OtlpProtocol
  /** OTEL_EXPORTER_OTLP_[TRACES_]HEADERS. @default none */
  readonly headers: readonly OtlpHeader[]
  /** OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION. @default none */
  readonly compression: 'gzip' | 'none'
  /** OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT: one request's deadline. @default 10000 */
  readonly timeoutMs: number
  readonly batch: OtlpBatchConfig
}

/** The OpenTelemetry specification's defaults. */
export const defaultOtlpConfig: OtlpConfig = {
  endpoint: 'http://localhost:4318/v1/traces',
  protocol: 'http/protobuf',
  headers: [],
  compression: 'none',
  timeoutMs: 10_000,
  batch: { scheduleDelayMs: 5000, exportTimeoutMs: 30_000, maxQueueSize: 2048, maxExportBatchSize: 512 },
}

export interface KubernetesConfig {
  readonly api: HostPort
  /** KUBERNETES_SERVICE_ACCOUNT_DIR. @default /var/run/secrets/kubernetes.io/serviceaccount */
  readonly serviceAccountDir: string
  /** EKS_CLUSTER_NAME: skips reading the amazon-cloudwatch/cluster-info ConfigMap. */
  readonly clusterName: string | undefined
}

interface CommonConfig {
  readonly port: number
  readonly logLevel: LogLevel
  readonly xray: XrayConfig
}

/** DB_SSL_MODE: the MySQL client's --ssl-mode values, with the same meanings. */
export const databaseSslModes = ['DISABLED', 'PREFERRED', 'REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY'] as const
export type DatabaseSslMode = (typeof databaseSslModes)[number]

/** DB_SSL_CA: the CA certificates the server's certificate must chain to. */
export type DatabaseCa =
  | { readonly kind: 'rds' }
  | { readonly kind: 'file'; readonly path: string; readonly pem: string }

export interface DatabaseTls {
  readonly mode: DatabaseSslMode
  /** Set exactly when the mode is VERIFY_CA or VERIFY_IDENTITY. */
  readonly ca: DatabaseCa | undefined
}

export interface DatabaseConfig {
  readonly host: string
  readonly port: number
  readonly name: string
  readonly user: string
  readonly password: Secret
  /** DB_SSL_MODE and DB_SSL_CA. @default undefined: no TLS, as the original connected */
  readonly tls?: DatabaseTls | undefined
}

/** Who may call usermgmt's data endpoints (AUTH_*). */
export type AuthConfig =
  | { readonly mode: 'none' }
  | {
      readonly mode: 'jwt'
      /** AUTH_JWT_ISSUER: the exact `iss` of accepted tokens. */
      readonly issuer: string
      /** AUTH_JWT_AUDIENCE, comma-separated: accepted `aud` values (or `client_id` for Cognito access tokens). */
      readonly audiences: readonly string[]
      /** AUTH_JWKS_URL. @default the issuer's discovery document's jwks_uri */
      readonly jwksUrl: string | undefined
      /** AUTH_READ_SCOPE. @default usermgmt/read */
      readonly readScope: string
      /** AUTH_WRITE_SCOPE. @default usermgmt/write */
      readonly writeScope: string
    }

export interface UsermgmtConfig extends CommonConfig {
  readonly role: 'usermgmt'
  readonly db: DatabaseConfig
  readonly notification: HostPort
  readonly auth: AuthConfig
  /** NOTIFICATION_AUTH_TOKEN: sent on every call to the notification role. @default none */
  readonly notificationToken: Secret | undefined
  /** RATE_LIMIT_ACCOUNTS_PER_HOUR/_BURST, per client address; undefined = no limit. */
  readonly accountLimit: RateLimitConfig | undefined
}

export interface MailConfig {
  readonly host: string
  readonly port: number
  readonly tls: SmtpTlsMode
  readonly username: string
  readonly password: Secret
  readonly from: string
  /**
   * AWS_MAIL_SERVER_TLS_SERVERNAME: the name the server's certificate must carry. @default the host, except for
   * a single-label cluster alias (the course's `smtp-service` ExternalName), where only the chain is checked,
   * as the original's JavaMail did.
   */
  readonly tlsServername: string | undefined
}

export interface NotificationConfig extends CommonConfig {
  readonly role: 'notification'
  readonly appVersion: string
  readonly mail: MailConfig
  /** NOTIFICATION_AUTH_TOKEN: what POST /notification/send requires; undefined = open. */
  readonly serviceToken: Secret | undefined
  /** RATE_LIMIT_MAILS_PER_MINUTE/_BURST, per calling token (or peer); undefined = no limit. */
  readonly mailLimit: RateLimitConfig | undefined
}

export type RoleConfig = UsermgmtConfig | NotificationConfig

export interface DevConfig {
  readonly logLevel: LogLevel
  readonly usermgmtPort: number
  readonly notificationPort: number
  readonly smtpPort: number
  /** Where dev sends segments (the local X-Ray daemon stand-in). */
  readonly daemonPort: number
  /** DEV_OTLP_PORT: where the console takes OTLP/HTTP. @default a free port (loadDevConfig: 4318) */
  readonly otlpPort?: number | undefined
  /** OTEL_TRACES_EXPORTER: how the roles send their traces to the console. @default ['xray'] */
  readonly exporters?: readonly TracesExporterName[] | undefined
  /** OTEL_EXPORTER_OTLP_PROTOCOL, when the roles export OTLP. @default http/protobuf */
  readonly otlpProtocol?: OtlpProtocol | undefined
  readonly dataDir: string
}

/** A configuration, or every problem with it, one line each. */
export type ConfigResult<TConfig> = Parsed<TConfig>

export interface ServeFlags {
  readonly port?: string | undefined
  /** --sampling-rules, in place of AWS_XRAY_SAMPLING_RULES. */
  readonly samplingRules?: string | undefined
}

export interface DevFlags {
  readonly dataDir?: string | undefined
}

/** Each role's segment name when AWS_XRAY_TRACING_NAME does not say: the course's. */
export const defaultTracingNames: Readonly<Record<Role, string>> = {
  usermgmt: 'User-Management-Microservice',
  notification: 'V1-Notification-Microservice',
}

const defaultPorts: Record<Role, number> = { usermgmt: 8095, notification: 8096 }

const secretNames = new Set([
  'DB_PASSWORD',
  'AWS_MAIL_SERVER_PASSWORD',
  'NOTIFICATION_AUTH_TOKEN',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
])

// RFC 1123 host names, IPv4 and bare IPv6 literals.
const hostPattern =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/

const requiredText = {
  error: (issue: { input: unknown }) => (issue.input === undefined ? 'is required' : 'must be text'),
}

const host = z.string(requiredText).trim().max(253).regex(hostPattern, 'must be a host name or an IP address')

/**
 * For the environment's schemas, parsed once per process: zod's compiled fast path for an object takes longer to
 * build than the one parse it would speed up (docs/performance.md).
 */
const onceOnly = { jitless: true } as const

/** Digits only, read as a number from min to max; every way to miss gets the same message. */
function wholeNumber(min: number, max: number, message: string) {
  // One transform rather than a chain of checks: every zod step is a schema built at start-up, and there are many.
  return z.string().transform((text, ctx) => {
    const digits = text.trim()
    const value = Number(digits)
    if (/^\d+$/.test(digits) && value >= min && value <= max) return value
    ctx.issues.push({ code: 'custom', message, input: text })
    return z.NEVER
  })
}

const port = wholeNumber(1, 65535, 'must be a port number from 1 to 65535')
const listenPort = wholeNumber(0, 65535, 'must be a port number from 0 to 65535')

function boolean() {
  return z.string().transform((text, ctx) => {
    const word = text.trim().toLowerCase()
    if (word === 'true' || word === 'false') return word === 'true'
    ctx.issues.push({ code: 'custom', message: 'must be true or false', input: text })
    return z.NEVER
  })
}

/** A host as it stands in a URL or a `host:port`: an IPv6 address in brackets. */
export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

/** `host:port` (IPv6 in brackets), or undefined when it is not one. */
export function parseHostPort(text: string): HostPort | undefined {
  const match = /^(.*):(\d{1,5})$/.exec(text.trim())
  if (!match) return undefined
  const [, rawHost = '', rawPort = ''] = match
  const hostName = rawHost.replace(/^\[(.*)\]$/, '$1')
  const portNumber = Number(rawPort)
  if (!host.safeParse(hostName).success || hostName === '' || portNumber < 1 || portNumber > 65535) {
    return undefined
  }
  return { host: hostName, port: portNumber }
}

/** `host:port`, or the SDK's `tcp:host:port udp:host:port` form for separate addresses. */
const daemonAddress = z.string().transform((text, ctx) => {
  const parts = text.trim().split(/\s+/)
  if (parts.length === 1) {
    const both = parseHostPort(parts[0] ?? '')
    if (both) return { udp: both, tcp: both }
  } else if (parts.length === 2) {
    const byProtocol = new Map<string, HostPort | undefined>()
    for (const part of parts) {
      const match = /^(tcp|udp):(.*)$/.exec(part)
      if (match?.[1] && match[2] !== undefined) byProtocol.set(match[1], parseHostPort(match[2]))
    }
    const udp = byProtocol.get('udp')
    const tcp = byProtocol.get('tcp')
    if (udp && tcp) return { udp, tcp }
  }
  ctx.addIssue({ code: 'custom', message: 'must be host:port or "tcp:host:port udp:host:port"' })
  return z.NEVER
})

/** Where keys may come from: HTTPS, or plain HTTP on this machine only (a test issuer, a local Keycloak). */
export function isTrustedKeyUrl(url: string): boolean {
  try {
    const parsed = new URL(url)
    if (parsed.protocol === 'https:') return true
    return parsed.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname)
  } catch {
    return false
  }
}

const keyUrl = z.string().trim().refine(isTrustedKeyUrl, 'must be an https:// URL (http:// only for localhost)')

// RFC 6749 scope-token characters: also what a WWW-Authenticate scope="..." may carry unescaped.
const scopeName = z
  .string()
  .trim()
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/, 'must be one scope or group name: no spaces, quotes or backslashes')

const audienceList = z
  .string()
  .transform((text) => text.split(',').map((part) => part.trim()))
  .refine(
    (parts) => parts.every((part) => /^[\x21-\x7E]{1,256}$/.test(part)),
    'must be one audience or several separated by commas, without spaces',
  )

// RFC 6750 b64token, so that it travels in an Authorization header as it is.
const serviceToken = z
  .string()
  .trim()
  .min(32, 'must be at least 32 characters')
  .max(1024, 'must be at most 1024 characters')
  .regex(/^[A-Za-z0-9\-._~+/]+=*$/, 'may hold only letters, digits and -._~+/ (then = padding)')

function count(min: number, fallback: number) {
  return wholeNumber(min, 1_000_000, `must be a whole number from ${min} to 1000000`).default(fallback)
}

function rateLimit(limit: number, burst: number, window: RateLimitConfig['window']): RateLimitConfig | undefined {
  return limit === 0 ? undefined : { limit, burst, window }
}

const jwtOnly = [
  'AUTH_JWT_ISSUER',
  'AUTH_JWT_AUDIENCE',
  'AUTH_JWKS_URL',
  'AUTH_READ_SCOPE',
  'AUTH_WRITE_SCOPE',
] as const

/** A problem the schema cannot see, found on the raw values beside it and reported in the same pass. */
function envIssue(name: string, message: string, input: string | undefined): z.core.$ZodIssue {
  return { code: 'custom', path: [name], message, input }
}

/** AUTH_MODE=jwt needs an issuer and an audience; AUTH_JWT_* without it would look protected and be open. */
function authProblems(values: Readonly<Record<string, string>>): z.core.$ZodIssue[] {
  const mode = values['AUTH_MODE'] ?? 'none'
  const issue = (name: string, message: string) => envIssue(name, message, values[name])
  if (mode === 'jwt') {
    return (['AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE'] as const)
      .filter((name) => values[name] === undefined)
      .map((name) => issue(name, 'is required when AUTH_MODE=jwt'))
  }
  if (mode !== 'none') return []
  return jwtOnly
    .filter((name) => values[name] !== undefined)
    .map((name) => issue(name, 'is set, but AUTH_MODE is not jwt, so no token would be checked: set AUTH_MODE=jwt'))
}

/** OTEL_PROPAGATORS: a comma-separated list; `none` alone for no propagation, as the specification has it. */
const propagatorList = z.string().transform((text, ctx): Propagator[] => {
  const names = text
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '')
  if (names.length === 1 && names[0] === 'none') return []
  const unknown = names.filter((name) => !supportedPropagators.some((known) => known === name))
  if (unknown.length > 0 || names.length === 0) {
    ctx.addIssue({
      code: 'custom',
      message: `must list tracecontext, baggage and xray (or be none); ${unknown.length > 0 ? `${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not supported` : 'nothing listed'}`,
    })
    return z.NEVER
  }
  return supportedPropagators
    .filter((known) => names.includes(known))
    .sort((a, b) => names.indexOf(a) - names.indexOf(b))
})

const logLevel = z.enum(logLevels, { error: `must be one of ${logLevels.join(', ')}` })

/** A segment name, as X-Ray takes it; the OTLP resource's service.name is the same name. */
const tracingName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .regex(/^[\p{L}\p{N}\p{Z}_.:/%&#=+\\\-@]+$/u, 'may hold only letters, digits, spaces and _.:/%&#=+\\-@')

const tracesExportersMessage = 'must be xray, otlp, xray,otlp or none'

/** OTEL_TRACES_EXPORTER: a comma-separated list; `none` alone means no exporter. */
const tracesExporters = z.string().transform((text, ctx): TracesExporterName[] => {
  const names = [...new Set(text.split(',').map((part) => part.trim().toLowerCase()))].filter((name) => name !== '')
  const known = (name: string): name is TracesExporterName => (tracesExporterNames as readonly string[]).includes(name)
  const unknown = names.filter((name) => name !== 'none' && !known(name))
  if (unknown.length > 0) {
    ctx.addIssue({ code: 'custom', message: `${tracesExportersMessage} (${unknown.join(', ')} is not offered)` })
    return z.NEVER
  }
  if (names.includes('none')) {
    if (names.length === 1) return []
    ctx.addIssue({ code: 'custom', message: `${tracesExportersMessage}: none cannot be combined with an exporter` })
    return z.NEVER
  }
  return names.filter(known)
})

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x20 || code === 0x7f) return true
  }
  return false
}

/**
 * The `key=value,key=value` list (W3C baggage without properties) that OTEL_RESOURCE_ATTRIBUTES and
 * OTEL_EXPORTER_OTLP_HEADERS use, values percent-decoded. Problems never quote a value: headers hold secrets.
 */
function parseKeyValueList(text: string, keyPattern: RegExp): { pairs: [string, string][] } | { problem: string } {
  const pairs: [string, string][] = []
  const items = text.split(',')
  for (const [index, item] of items.entries()) {
    if (item.trim() === '') continue
    const equals = item.indexOf('=')
    const key = equals < 0 ? '' : item.slice(0, equals).trim()
    if (equals < 0 || !keyPattern.test(key)) {
      return { problem: `must be key=value pairs separated by commas (item ${index + 1} has no valid key=)` }
    }
    let value: string
    try {
      value = decodeURIComponent(item.slice(equals + 1).trim())
    } catch {
      return { problem: `the value of ${key} is not valid percent-encoding` }
    }
    if (hasControlCharacter(value)) return { problem: `the value of ${key} holds a control character` }
    pairs.push([key, value])
  }
  return { pairs }
}

// RFC 9110 field names; resource attribute keys are any printable text without `=` or `,`.
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const attributeKey = /^[\x21-\x2b\x2d-\x3c\x3e-\x7e]+$/
const headersTheExporterSets = new Set(['content-type', 'content-encoding', 'content-length', 'host'])

const otlpHeaders = z.string().transform((text, ctx) => {
  const parsed = parseKeyValueList(text, headerName)
  if ('problem' in parsed) {
    ctx.addIssue({ code: 'custom', message: parsed.problem })
    return z.NEVER
  }
  const clash = parsed.pairs.find(([name]) => headersTheExporterSets.has(name.toLowerCase()))
  if (clash) {
    ctx.addIssue({ code: 'custom', message: `${clash[0]} is set by the exporter, not by this variable` })
    return z.NEVER
  }
  return parsed.pairs
})

const resourceAttributes = z.string().transform((text, ctx) => {
  const parsed = parseKeyValueList(text, attributeKey)
  if ('problem' in parsed) {
    ctx.addIssue({ code: 'custom', message: parsed.problem })
    return z.NEVER
  }
  return Object.fromEntries(parsed.pairs)
})

/** An OTLP/HTTP endpoint: credentials belong in the headers, which are never logged. */
function isOtlpUrl(text: string): boolean {
  try {
    const url = new URL(text)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === ''
  } catch {
    return false
  }
}

const otlpUrl = z
  .string()
  .trim()
  .refine(isOtlpUrl, 'must be an http:// or https:// URL without credentials (put those in the headers)')

/** OTEL_EXPORTER_OTLP_ENDPOINT is a base: the traces path is appended to its path, as the specification says. */
function tracesUrl(base: string): string {
  const url = new URL(base)
  url.pathname = `${url.pathname.replace(/\/$/, '')}/v1/traces`
  return url.toString()
}

const otlpProtocol = z
  .string()
  .trim()
  .toLowerCase()
  .transform((text, ctx): OtlpProtocol => {
    if (text === 'http/protobuf' || text === 'http/json') return text
    ctx.addIssue({
      code: 'custom',
      message:
        text === 'grpc'
          ? 'grpc is not offered: use http/protobuf (the default, port 4318) or http/json'
          : 'must be http/protobuf or http/json',
    })
    return z.NEVER
  })

const compression = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['gzip', 'none'], { error: 'must be gzip or none' }))

function amount(min: number, max: number, unit: string) {
  return wholeNumber(min, max, `must be a whole number of ${unit} from ${min} to ${max}`)
}

const otlpTimeout = amount(1, 120_000, 'milliseconds')
/** X-Ray's OTLP endpoint takes at most 10,000 spans a request. */
const maxBatchSpans = 10_000
const batchSize = amount(1, maxBatchSpans, 'spans')
const queueSize = amount(1, 100_000, 'spans')

const xrayEnv = {
  AWS_XRAY_SDK_ENABLED: boolean().default(true),
  AWS_XRAY_TRACING_NAME: tracingName.optional(),
  AWS_XRAY_DAEMON_ADDRESS: daemonAddress.default({
    udp: { host: '127.0.0.1', port: 2000 },
    tcp: { host: '127.0.0.1', port: 2000 },
  }),
  AWS_XRAY_CONTEXT_MISSING: z
    .enum(['LOG_ERROR', 'RUNTIME_ERROR', 'IGNORE_ERROR'], {
      error: 'must be one of LOG_ERROR, RUNTIME_ERROR, IGNORE_ERROR',
    })
    .default('LOG_ERROR'),
  AWS_XRAY_COLLECT_SQL_QUERIES: boolean().default(false),
  AWS_XRAY_SAMPLING_RULES: z.string().trim().min(1, 'must be a file path').optional(),
  OTEL_PROPAGATORS: propagatorList.default([...defaultPropagators]),
  OTEL_SDK_DISABLED: boolean().default(false),
  OTEL_TRACES_EXPORTER: tracesExporters.default(['xray']),
  OTEL_SERVICE_NAME: tracingName.optional(),
  OTEL_RESOURCE_ATTRIBUTES: resourceAttributes.default({}),
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl.optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl.optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol.optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol.optional(),
  OTEL_EXPORTER_OTLP_HEADERS: otlpHeaders.optional(),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: otlpHeaders.optional(),
  OTEL_EXPORTER_OTLP_COMPRESSION: compression.optional(),
  OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: compression.optional(),
  OTEL_EXPORTER_OTLP_TIMEOUT: otlpTimeout.optional(),
  OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: otlpTimeout.optional(),
  OTEL_BSP_SCHEDULE_DELAY: amount(1, 60_000, 'milliseconds').default(defaultOtlpConfig.batch.scheduleDelayMs),
  OTEL_BSP_EXPORT_TIMEOUT: amount(1, 600_000, 'milliseconds').default(defaultOtlpConfig.batch.exportTimeoutMs),
  OTEL_BSP_MAX_QUEUE_SIZE: queueSize.default(defaultOtlpConfig.batch.maxQueueSize),
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: batchSize.default(defaultOtlpConfig.batch.maxExportBatchSize),
  LOG_LEVEL: logLevel.default('info'),
  KUBERNETES_SERVICE_HOST: host.optional(),
  KUBERNETES_SERVICE_PORT: port.default(443),
  KUBERNETES_SERVICE_ACCOUNT_DIR: z.string().trim().min(1).default('/var/run/secrets/kubernetes.io/serviceaccount'),
  EKS_CLUSTER_NAME: z
    .string()
    .trim()
    .regex(/^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/, 'must be an EKS cluster name')
    .optional(),
}

/**
 * What the OTEL_* variables cannot say one at a time: a batch larger than the queue, and a service.name in
 * OTEL_RESOURCE_ATTRIBUTES that would name the segments but is no segment name. Checked on the raw values, beside
 * the schema, so they come in the same pass as every other problem.
 */
function otelProblems(values: Readonly<Record<string, string>>): z.core.$ZodIssue[] {
  const issues: z.core.$ZodIssue[] = []
  const issue = (name: string, message: string) => issues.push(envIssue(name, message, values[name]))
  const batch = batchSize.safeParse(values['OTEL_BSP_MAX_EXPORT_BATCH_SIZE'] ?? '512')
  const queue = queueSize.safeParse(values['OTEL_BSP_MAX_QUEUE_SIZE'] ?? '2048')
  if (batch.success && queue.success && batch.data > queue.data) {
    issue('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', `must not be larger than OTEL_BSP_MAX_QUEUE_SIZE (${queue.data})`)
  }
  const attributes = resourceAttributes.safeParse(values['OTEL_RESOURCE_ATTRIBUTES'] ?? '')
  const serviceName = attributes.success ? attributes.data['service.name'] : undefined
  const named = values['AWS_XRAY_TRACING_NAME'] !== undefined || values['OTEL_SERVICE_NAME'] !== undefined
  if (serviceName !== undefined && !named) {
    const checked = tracingName.safeParse(serviceName)
    if (!checked.success) issue('OTEL_RESOURCE_ATTRIBUTES', `service.name ${checked.error.issues[0]?.message}`)
  }
  return issues
}

const sslMode = z
  .string()
  .trim()
  .toUpperCase()
  .pipe(z.enum(databaseSslModes, { error: `must be one of ${databaseSslModes.join(', ')}` }))

const usermgmtEnv = z.object({
  ...xrayEnv,
  DB_HOSTNAME: host.default('localhost'),
  DB_PORT: port.default(3306),
  DB_NAME: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_$]{1,64}$/, 'must be 1 to 64 letters, digits, _ or $')
    .default('usermgmt'),
  DB_USERNAME: z.string().min(1, 'must not be empty').max(80, 'must be at most 80 characters').default('root'),
  DB_PASSWORD: z.string().max(256, 'must be at most 256 characters').default(''),
  DB_SSL_MODE: sslMode.optional(),
  NOTIFICATION_SERVICE_HOST: host.default('localhost'),
  NOTIFICATION_SERVICE_PORT: port.default(8096),
  NOTIFICATION_AUTH_TOKEN: serviceToken.optional(),
  AUTH_MODE: z.enum(['none', 'jwt'], { error: 'must be none or jwt' }).default('none'),
  AUTH_JWT_ISSUER: keyUrl.optional(),
  AUTH_JWT_AUDIENCE: audienceList.optional(),
  AUTH_JWKS_URL: keyUrl.optional(),
  AUTH_READ_SCOPE: scopeName.default('usermgmt/read'),
  AUTH_WRITE_SCOPE: scopeName.default('usermgmt/write'),
  RATE_LIMIT_ACCOUNTS_PER_HOUR: count(0, 30),
  RATE_LIMIT_ACCOUNTS_BURST: count(1, 10),
})

const notificationEnv = z.object({
  ...xrayEnv,
  AWS_MAIL_SERVER_HOST: host,
  AWS_MAIL_SERVER_PORT: port.default(587),
  AWS_MAIL_SERVER_TLS: z
    .enum(['starttls', 'tls', 'none'], { error: 'must be one of starttls, tls, none' })
    .default('starttls'),
  AWS_MAIL_SERVER_USERNAME: z.string().max(256, 'must be at most 256 characters').default(''),
  AWS_MAIL_SERVER_PASSWORD: z.string().max(256, 'must be at most 256 characters').default(''),
  AWS_MAIL_SERVER_FROM_ADDRESS: z.string(requiredText).pipe(z.email('must be an e-mail address')),
  AWS_MAIL_SERVER_TLS_SERVERNAME: host.optional(),
  APP_VERSION: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9._-]{1,20}$/, 'must be 1 to 20 letters, digits, ".", "_" or "-"')
    .default('V1'),
  NOTIFICATION_AUTH_TOKEN: serviceToken.optional(),
  RATE_LIMIT_MAILS_PER_MINUTE: count(0, 60),
  RATE_LIMIT_MAILS_BURST: count(1, 60),
})

/**
 * SES (and any server we would send real mail through) wants AUTH; only a local plain-text sink may go without.
 * Checked on the raw values, beside the schema, so that it is reported together with every other problem.
 */
function mailCredentialProblems(values: Readonly<Record<string, string>>): z.core.$ZodIssue[] {
  if (values['AWS_MAIL_SERVER_TLS'] === 'none') return []
  return (['AWS_MAIL_SERVER_USERNAME', 'AWS_MAIL_SERVER_PASSWORD'] as const)
    .filter((name) => values[name] === undefined)
    .map((name) => envIssue(name, 'is required unless AWS_MAIL_SERVER_TLS=none', undefined))
}

const verifyingModes: readonly DatabaseSslMode[] = ['VERIFY_CA', 'VERIFY_IDENTITY']

/** The CA named by DB_SSL_CA, read and checked now, so a bad file stops start-up instead of every connection. */
function readCa(value: string): { ca: DatabaseCa } | { problem: string } {
  if (value.toLowerCase() === 'rds') return { ca: { kind: 'rds' } }
  let pem: string
  try {
    pem = readFileSync(value, 'utf8')
  } catch (error) {
    const code = (error as { code?: unknown }).code
    return { problem: `cannot read ${value} (${typeof code === 'string' ? code : String(error)})` }
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  if (blocks.length === 0) return { problem: `${value} holds no PEM certificate` }
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block)
    } catch {
      return { problem: `${value}: certificate ${index + 1} of ${blocks.length} is not a valid certificate` }
    }
  }
  return { ca: { kind: 'file', path: value, pem } }
}

/** DB_SSL_MODE and DB_SSL_CA together: a CA exactly when the mode verifies, and a readable one. */
function databaseTls(
  mode: DatabaseSslMode | undefined,
  caValue: string | undefined,
): { tls: DatabaseTls | undefined } | { issues: z.core.$ZodIssue[] } {
  const issue = (message: string) => ({ issues: [envIssue('DB_SSL_CA', message, caValue)] })
  const verifies = mode !== undefined && verifyingModes.includes(mode)
  if (caValue === '') return issue('must be a file path or rds')
  if (!verifies) {
    if (caValue !== undefined) {
      return issue(
        'is used only with DB_SSL_MODE=VERIFY_CA or VERIFY_IDENTITY (the other modes do not check certificates)',
      )
    }
    return { tls: mode === undefined ? undefined : { mode, ca: undefined } }
  }
  if (caValue === undefined) {
    return issue(
      `is required with DB_SSL_MODE=${mode}: a PEM file of the CA that signed the server's certificate, or rds`,
    )
  }
  const read = readCa(caValue)
  return 'problem' in read ? issue(read.problem) : { tls: { mode, ca: read.ca } }
}

const devEnv = z.object({
  LOG_LEVEL: logLevel.default('info'),
  DEV_USERMGMT_PORT: listenPort.default(8095),
  DEV_NOTIFICATION_PORT: listenPort.default(8096),
  DEV_SMTP_PORT: listenPort.default(1025),
  DEV_XRAY_PORT: listenPort.default(2000),
  DEV_OTLP_PORT: listenPort.default(4318),
  OTEL_TRACES_EXPORTER: tracesExporters.default(['xray']),
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol.default('http/protobuf'),
  DEV_DATA_DIR: z.string().trim().min(1, 'must be a directory path').default('.app-dev'),
})

function describeProblems(issues: readonly z.core.$ZodIssue[], env: Env): string[] {
  return issues.map((issue) => {
    const name = issue.path.map(String).join('.') || 'environment'
    const raw = env[name]
    // A URL's user:password is shown as *** like any secret.
    const visible = raw?.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@')
    const shown = raw === undefined ? 'not set' : secretNames.has(name) ? 'got ***' : `got ${JSON.stringify(visible)}`
    return `${name}: ${issue.message} (${shown})`
  })
}

/** Treats an empty variable like an unset one, as Spring's ${VAR:default} placeholders did. */
function present(env: Env): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') out[key] = value
  }
  return out
}

function parseListenPort(flag: string | undefined, fallback: number): ConfigResult<number> {
  if (flag === undefined) return { ok: true, value: fallback }
  const parsed = listenPort.safeParse(flag)
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, problems: [`--port: must be a port number from 0 to 65535 (got ${JSON.stringify(flag)})`] }
}

function xrayConfig(env: z.infer<z.ZodObject<typeof xrayEnv>>, role: Role): XrayConfig {
  const attributes = env.OTEL_RESOURCE_ATTRIBUTES
  const headers = new Map<string, string>()
  // The traces-only variables win over the general ones, header by header.
  for (const [name, value] of [
    ...(env.OTEL_EXPORTER_OTLP_HEADERS ?? []),
    ...(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS ?? []),
  ])
    headers.set(name.toLowerCase(), value)
  return {
    enabled: env.AWS_XRAY_SDK_ENABLED && !env.OTEL_SDK_DISABLED,
    tracingName:
      env.AWS_XRAY_TRACING_NAME ?? env.OTEL_SERVICE_NAME ?? attributes['service.name'] ?? defaultTracingNames[role],
    daemonUdp: env.AWS_XRAY_DAEMON_ADDRESS.udp,
    daemonTcp: env.AWS_XRAY_DAEMON_ADDRESS.tcp,
    contextMissing: env.AWS_XRAY_CONTEXT_MISSING,
    collectSqlQueries: env.AWS_XRAY_COLLECT_SQL_QUERIES,
    samplingRulesFile: env.AWS_XRAY_SAMPLING_RULES,
    propagators: env.OTEL_PROPAGATORS,
    kubernetes:
      env.KUBERNETES_SERVICE_HOST === undefined
        ? undefined
        : {
            api: { host: env.KUBERNETES_SERVICE_HOST, port: env.KUBERNETES_SERVICE_PORT },
            serviceAccountDir: env.KUBERNETES_SERVICE_ACCOUNT_DIR,
            clusterName: env.EKS_CLUSTER_NAME,
          },
    exporters: env.OTEL_TRACES_EXPORTER,
    resourceAttributes: attributes,
    otlp: {
      endpoint:
        env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
        (env.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
          ? defaultOtlpConfig.endpoint
          : tracesUrl(env.OTEL_EXPORTER_OTLP_ENDPOINT)),
      protocol: env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? defaultOtlpConfig.protocol,
      headers: [...headers].map(([name, value]) => ({ name, value: new Secret(value) })),
      compression:
        env.OTEL_EXPORTER_OTLP_TRACES_COMPRESSION ??
        env.OTEL_EXPORTER_OTLP_COMPRESSION ??
        defaultOtlpConfig.compression,
      timeoutMs: env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT ?? defaultOtlpConfig.timeoutMs,
      batch: {
        scheduleDelayMs: env.OTEL_BSP_SCHEDULE_DELAY,
        exportTimeoutMs: env.OTEL_BSP_EXPORT_TIMEOUT,
        maxQueueSize: env.OTEL_BSP_MAX_QUEUE_SIZE,
        maxExportBatchSize: env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
      },
    },
  }
}

/**
 * Reads a role's configuration from the environment (the contract's names) and its flags, once, at start-up.
 * Every problem is reported in one pass, one line each, with secret values shown as ***.
 */
export function loadConfig(role: Role, env: Env, flags: ServeFlags = {}): ConfigResult<RoleConfig> {
  const values = present(env)
  if (flags.samplingRules !== undefined) values['AWS_XRAY_SAMPLING_RULES'] = flags.samplingRules
  const port = parseListenPort(flags.port, defaultPorts[role])
  const config = role === 'usermgmt' ? usermgmtConfig(values, env) : notificationConfig(values, env)
  if (!config.ok || !port.ok) {
    return { ok: false, problems: [...(config.ok ? [] : config.problems), ...(port.ok ? [] : port.problems)] }
  }
  return { ok: true, value: Object.freeze({ ...config.value, port: port.value }) }
}

type WithoutPort<T> = Omit<T, 'port'>

function usermgmtConfig(values: Record<string, string>, env: Env): ConfigResult<WithoutPort<UsermgmtConfig>> {
  const parsed = usermgmtEnv.safeParse(values, onceOnly)
  // Checked beside the schema, on the raw values, so these problems come in the same pass as every other.
  const mode = sslMode.optional().safeParse(values['DB_SSL_MODE'])
  const tls = mode.success ? databaseTls(mode.data, values['DB_SSL_CA']?.trim()) : { tls: undefined }
  const issues = [
    ...(parsed.success ? [] : parsed.error.issues),
    ...('issues' in tls ? tls.issues : []),
    ...authProblems(values),
    ...otelProblems(values),
  ]
  if (!parsed.success || 'issues' in tls || issues.length > 0) {
    return { ok: false, problems: describeProblems(issues, env) }
  }
  const e = parsed.data
  return {
    ok: true,
    value: {
      role: 'usermgmt',
      logLevel: e.LOG_LEVEL,
      xray: xrayConfig(e, 'usermgmt'),
      db: {
        host: e.DB_HOSTNAME,
        port: e.DB_PORT,
        name: e.DB_NAME,
        user: e.DB_USERNAME,
        password: new Secret(e.DB_PASSWORD),
        tls: tls.tls,
      },
      notification: { host: e.NOTIFICATION_SERVICE_HOST, port: e.NOTIFICATION_SERVICE_PORT },
      auth:
        e.AUTH_MODE === 'jwt' && e.AUTH_JWT_ISSUER !== undefined && e.AUTH_JWT_AUDIENCE !== undefined
          ? {
              mode: 'jwt',
              issuer: e.AUTH_JWT_ISSUER,
              audiences: e.AUTH_JWT_AUDIENCE,
              jwksUrl: e.AUTH_JWKS_URL,
              readScope: e.AUTH_READ_SCOPE,
              writeScope: e.AUTH_WRITE_SCOPE,
            }
          : { mode: 'none' },
      notificationToken: e.NOTIFICATION_AUTH_TOKEN === undefined ? undefined : new Secret(e.NOTIFICATION_AUTH_TOKEN),
      accountLimit: rateLimit(e.RATE_LIMIT_ACCOUNTS_PER_HOUR, e.RATE_LIMIT_ACCOUNTS_BURST, 'hour'),
    },
  }
}

function notificationConfig(values: Record<string, string>, env: Env): ConfigResult<WithoutPort<NotificationConfig>> {
  const parsed = notificationEnv.safeParse(values, onceOnly)
  const issues = [
    ...(parsed.success ? [] : parsed.error.issues),
    ...mailCredentialProblems(values),
    ...otelProblems(values),
  ]
  if (!parsed.success || issues.length > 0) return { ok: false, problems: describeProblems(issues, env) }
  const e = parsed.data
  return {
    ok: true,
    value: {
      role: 'notification',
      logLevel: e.LOG_LEVEL,
      appVersion: e.APP_VERSION,
      xray: xrayConfig(e, 'notification'),
      mail: {
        host: e.AWS_MAIL_SERVER_HOST,
        port: e.AWS_MAIL_SERVER_PORT,
        tls: e.AWS_MAIL_SERVER_TLS,
        username: e.AWS_MAIL_SERVER_USERNAME,
        password: new Secret(e.AWS_MAIL_SERVER_PASSWORD),
        from: e.AWS_MAIL_SERVER_FROM_ADDRESS,
        tlsServername: e.AWS_MAIL_SERVER_TLS_SERVERNAME,
      },
      serviceToken: e.NOTIFICATION_AUTH_TOKEN === undefined ? undefined : new Secret(e.NOTIFICATION_AUTH_TOKEN),
      mailLimit: rateLimit(e.RATE_LIMIT_MAILS_PER_MINUTE, e.RATE_LIMIT_MAILS_BURST, 'minute'),
    },
  }
}

/** The role the course's manifests mean when they start the image without arguments. */
export function inferRole(env: Env): Role | undefined {
  const values = present(env)
  const mail = values['AWS_MAIL_SERVER_HOST'] !== undefined
  const db = values['DB_HOSTNAME'] !== undefined || values['NOTIFICATION_SERVICE_HOST'] !== undefined
  if (mail === db) return undefined
  return mail ? 'notification' : 'usermgmt'
}

/** `./app dev`: ports, the SQLite file's folder and the mail sink, all with embedded defaults. */
export function loadDevConfig(env: Env, flags: DevFlags = {}): ConfigResult<DevConfig> {
  const values = present(env)
  if (flags.dataDir !== undefined) values['DEV_DATA_DIR'] = flags.dataDir
  const parsed = devEnv.safeParse(values, onceOnly)
  if (!parsed.success) return { ok: false, problems: describeProblems(parsed.error.issues, env) }
  const e = parsed.data
  return {
    ok: true,
    value: Object.freeze({
      logLevel: e.LOG_LEVEL,
      usermgmtPort: e.DEV_USERMGMT_PORT,
      notificationPort: e.DEV_NOTIFICATION_PORT,
      smtpPort: e.DEV_SMTP_PORT,
      daemonPort: e.DEV_XRAY_PORT,
      otlpPort: e.DEV_OTLP_PORT,
      exporters: e.OTEL_TRACES_EXPORTER,
      otlpProtocol: e.OTEL_EXPORTER_OTLP_PROTOCOL,
      dataDir: e.DEV_DATA_DIR,
    }),
  }
}
