// The only file that touches aws-xray-sdk-core. Its cls-hooked context never runs here: segments are created
// in manual mode and the current one lives in our AsyncLocalStorage (tracer.ts), which follows Bun's awaits.
// The SDK is loaded on first use, not at import: it reads and validates AWS_XRAY_* when it loads and throws on
// a bad value, which must be our one-line exit 2 (config.ts) rather than a crash before we can say anything.
import type * as AWSXRayModule from 'aws-xray-sdk-core'
import { z } from 'zod'
import type { Logger } from '../platform'

export type SdkSegment = AWSXRayModule.Segment
export type SdkSubsegment = AWSXRayModule.Subsegment
export type SdkEntity = SdkSegment | SdkSubsegment
type Sdk = typeof AWSXRayModule

interface Emittable {
  readonly id: string
  readonly segment?: { readonly id: string }
  format(): string
}

interface SegmentEmitterModule {
  send(entity: Emittable): void
}

interface DaemonConfigModule {
  tcp_ip: string
  tcp_port: number
  udp_ip: string
  udp_port: number
}

type SamplingDecision = string | boolean

interface Sampler {
  shouldSample(request: { host: string; httpMethod: string; urlPath: string; serviceName: string }): SamplingDecision
}

interface Loaded {
  readonly sdk: Sdk
  readonly daemonConfig: DaemonConfigModule
  readonly middleware: Sdk['middleware'] & { sampler: Sampler }
}

/** Where each segment's documents go, by root segment id (the SDK flushes copies, so identity cannot be used). */
const routes = new Map<string, (document: string) => void>()
let loaded: Loaded | undefined

function load(): Loaded {
  if (loaded) return loaded
  const sdk = require('aws-xray-sdk-core') as Sdk
  // Deep modules, reached with require so that we get the very objects Segment and the sampler use.
  const segmentEmitter = require('aws-xray-sdk-core/dist/lib/segment_emitter') as SegmentEmitterModule
  const daemonConfig = require('aws-xray-sdk-core/dist/lib/daemon_config') as DaemonConfigModule
  segmentEmitter.send = (entity: Emittable) => {
    const rootId = entity.segment?.id ?? entity.id
    const route = routes.get(rootId)
    if (!route) return
    route(entity.format())
    if (entity.segment === undefined) routes.delete(rootId)
  }
  sdk.enableManualMode()
  loaded = { sdk, daemonConfig, middleware: sdk.middleware as Loaded['middleware'] }
  return loaded
}

export function routeSegment(segment: SdkSegment, send: (document: string) => void): void {
  routes.set(segment.id, send)
}

export function newSegment(name: string, traceId: string | undefined, parentId: string | undefined): SdkSegment {
  return new (load().sdk.Segment)(name, traceId, parentId)
}

/** A subsegment whose parent lives in another process or was sent long ago (the outbox continuing a trace). */
export function newDetachedSubsegment(
  name: string,
  traceId: string,
  parentId: string,
): SdkSubsegment & { trace_id: string; parent_id: string } {
  const subsegment = new (load().sdk.Subsegment)(name) as SdkSubsegment & { trace_id: string; parent_id: string }
  subsegment.trace_id = traceId
  subsegment.parent_id = parentId
  return subsegment
}

export function formatDetached(subsegment: SdkSubsegment): string {
  return (subsegment as unknown as Emittable).format()
}

function randomHex(bytes: number): string {
  const buffer = new Uint8Array(bytes)
  crypto.getRandomValues(buffer)
  return Buffer.from(buffer).toString('hex')
}

/** `1-<epoch seconds, 8 hex>-<96 random bits>`, as the SDK's TraceID (which it does not export at run time). */
export function newTraceId(): string {
  return `1-${Math.floor(Date.now() / 1000)
    .toString(16)
    .padStart(8, '0')}-${randomHex(12)}`
}

export function newEntityId(): string {
  return randomHex(8)
}

let logger: Logger | undefined
const lastLogged = new Map<string, number>()

/** The SDK logs through us, one line per distinct message a minute at most (its pollers retry forever). */
export function useLogger(log: Logger): void {
  logger = log
  const emit = (level: 'debug' | 'warn', args: unknown[]) => {
    const message = args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ')
    const key = message.slice(0, 80)
    const now = Date.now()
    if (level === 'warn' && now - (lastLogged.get(key) ?? 0) < 60_000) return
    lastLogged.set(key, now)
    logger?.[level]('aws-xray-sdk-core', { detail: message.slice(0, 500) })
  }
  load().sdk.setLogger({
    debug: () => {},
    info: (...args: unknown[]) => emit('debug', args),
    warn: (...args: unknown[]) => emit('warn', args),
    error: (...args: unknown[]) => emit('warn', args),
  })
}

export function setServiceData(version: string): void {
  load().sdk.SegmentUtils.setServiceData({ name: 'app', version, runtime: 'bun', runtime_version: Bun.version })
}

export function setEksMetadata(eks: { cluster_name: string; pod: string; container_id: string } | undefined): void {
  if (!eks) return
  load().sdk.SegmentUtils.setOrigin('AWS::EKS::Container')
  load().sdk.SegmentUtils.setPluginData({ eks })
}

export function setSamplingDaemon(host: string, port: number): void {
  load().daemonConfig.tcp_ip = host
  load().daemonConfig.tcp_port = port
}

const ruleV2 = z
  .object({
    description: z.string().optional(),
    host: z.string().min(1),
    http_method: z.string().min(1),
    url_path: z.string().min(1),
    fixed_target: z.number().int().min(0),
    rate: z.number().min(0).max(1),
  })
  .strict()

/** The SDK's local sampling rules, version 2 (host, http_method, url_path, fixed_target, rate). */
export const samplingRules = z
  .object({
    version: z.literal(2),
    rules: z.array(ruleV2).optional(),
    default: z.object({ fixed_target: z.number().int().min(0), rate: z.number().min(0).max(1) }).strict(),
  })
  .strict()
export type SamplingRules = z.infer<typeof samplingRules>

export interface SamplingSetup {
  readonly rules: SamplingRules
  /** Ask the daemon's TCP endpoints for centralized rules, falling back to `rules`. @default true */
  readonly centralized: boolean
}

export function configureSampling(setup: SamplingSetup): void {
  const { middleware } = load()
  if (!setup.centralized) middleware.disableCentralizedSampling()
  middleware.setSamplingRules(setup.rules as AWSXRayModule.middleware.RulesConfig)
}

/** The SDK's decision: a rule name (centralized rule matched), true or false. */
export function shouldSample(request: { host: string; method: string; path: string; serviceName: string }): boolean {
  const decision = load().middleware.sampler.shouldSample({
    host: request.host,
    httpMethod: request.method,
    urlPath: request.path,
    serviceName: request.serviceName,
  })
  return decision !== false
}

/** 'error' for 4xx, 'fault' for 5xx, as the SDK classifies. */
export function causeTypeOf(status: number): 'error' | 'fault' | undefined {
  if (status === 429 || (status >= 400 && status < 500)) return 'error'
  return status >= 500 ? 'fault' : undefined
}

/** The SDK parses V8 stack lines; Bun frames come out with line: null, which the segment schema rejects. */
export function sanitizeCause(entity: SdkEntity): void {
  const cause = (entity as { cause?: { exceptions?: { stack?: { line?: unknown }[] }[] } }).cause
  for (const exception of cause?.exceptions ?? []) {
    if (exception.stack) exception.stack = exception.stack.filter((frame) => Number.isInteger(frame.line))
  }
}
