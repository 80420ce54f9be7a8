// The only file that touches aws-xray-sdk-core, for what it does well: sampling (local rules, the reservoir,
// centralized rules and targets through the daemon's TCP endpoints). Its cls-hooked context never runs here:
// the current segment lives in our AsyncLocalStorage (tracer.ts), which follows Bun's awaits; its segment
// model is too slow for 100% sampling (see model.ts).
// The SDK is loaded on first use, not at import: it reads and validates AWS_XRAY_* when it loads and throws on
// a bad value, which must be our one-line exit 2 (config.ts) rather than a crash before we can say anything.
import type * as AWSXRayModule from 'aws-xray-sdk-core'
import { z } from 'zod'
import type { Logger } from '../platform'

interface SdkLogger {
  setLogger(logger: Pick<Console, 'debug' | 'info' | 'warn' | 'error'>): void
}

interface DaemonConfigModule {
  tcp_ip: string
  tcp_port: number
}

type SamplingDecision = string | boolean

interface Sampler {
  shouldSample(request: { host: string; httpMethod: string; urlPath: string; serviceName: string }): SamplingDecision
  setLocalRules(rules: AWSXRayModule.middleware.RulesConfig): void
  start?(): void
  rulePoller?: { start(): void }
  ruleCache?: { rules: readonly unknown[]; lastUpdated: number | null }
}

interface Loaded {
  readonly logger: SdkLogger
  readonly daemonConfig: DaemonConfigModule
}

let loaded: Loaded | undefined
/** The SDK's sampler in use: its centralized one (which falls back to its local rules), or the local one alone. */
let sampler: Sampler | undefined

/**
 * Only the SDK's modules that sampling needs. Its index also loads its segment model, context tracking and
 * patchers, which never run here and kept several MiB of every process resident (docs/performance.md).
 */
function load(): Loaded {
  if (loaded) return loaded
  const logger = require('aws-xray-sdk-core/dist/lib/logger') as SdkLogger
  // A deep module, reached with require so that we get the very object the sampler's pollers read.
  const daemonConfig = require('aws-xray-sdk-core/dist/lib/daemon_config') as DaemonConfigModule
  loaded = { logger, daemonConfig }
  return loaded
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
  // info is per-request chatter ("No effective centralized sampling rule match...") and costs real time.
  load().logger.setLogger({
    debug: () => {},
    info: () => {},
    warn: (...args: unknown[]) => emit('warn', args),
    error: (...args: unknown[]) => emit('warn', args),
  })
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
  sampler = (
    setup.centralized
      ? require('aws-xray-sdk-core/dist/lib/middleware/sampling/default_sampler')
      : require('aws-xray-sdk-core/dist/lib/middleware/sampling/local_sampler')
  ) as Sampler
  sampler.setLocalRules(setup.rules as AWSXRayModule.middleware.RulesConfig)
}

function configuredSampler(): Sampler {
  if (sampler === undefined) throw new Error('configureSampling must run first')
  return sampler
}

/**
 * Starts the SDK's centralized pollers (rules every 5 min, targets every 10 s) and tells whether the daemon
 * has served any rules yet: until it has, and when it never does, our local sampler decides (local-sampler.ts).
 */
export function startCentralizedSampling(): () => boolean {
  const started = configuredSampler()
  // The SDK's sampler is process-wide: a tracer pointed at another daemon must not keep the last one's rules.
  if (started.ruleCache) {
    started.ruleCache.rules = []
    started.ruleCache.lastUpdated = null
  }
  started.start?.()
  started.rulePoller?.start()
  return () => {
    const cache = configuredSampler().ruleCache
    return (
      cache !== undefined &&
      cache.rules.length > 0 &&
      cache.lastUpdated !== null &&
      Date.now() / 1000 - cache.lastUpdated < 3600
    )
  }
}

/** The SDK's decision: a rule name (centralized rule matched), true or false. */
export function shouldSample(request: { host: string; method: string; path: string; serviceName: string }): boolean {
  const decision = configuredSampler().shouldSample({
    host: request.host,
    httpMethod: request.method,
    urlPath: request.path,
    serviceName: request.serviceName,
  })
  return decision !== false
}
