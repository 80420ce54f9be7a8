import { AsyncLocalStorage } from 'node:async_hooks'
import { readFileSync } from 'node:fs'
import { Elysia } from 'elysia'
import {
  addResponseHeaderSource,
  CliProblems,
  type FetchLike,
  type LogFields,
  type Logger,
  type PeerAddress,
  pathOf,
  type RequestScope,
  type XrayConfig,
} from '../platform'
import { detectEks, type EksMetadata } from './eks'
import { createUdpEmitter, type SegmentSink } from './emitter'
import { exporterFromConfig } from './export-config'
import { createXrayExporter, type SpanExporter } from './exporter'
import { createLocalSampler } from './local-sampler'
import { addCause, type EntityDocument, flagStatus, newEntityId, newTraceId, now, SegmentTree } from './model'
import {
  configureSampling,
  type SamplingRules,
  samplingRules,
  setSamplingDaemon,
  shouldSample,
  startCentralizedSampling,
  useLogger,
} from './sdk'
import { formatTraceHeader, parseTraceHeader } from './trace-header'

/** What a subsegment stands for; each becomes a `namespace: remote` node on the service map. */
export type SubsegmentKind = 'http' | 'sql' | 'smtp'

export interface SqlInfo {
  readonly url: string
  readonly databaseType: 'MySQL' | 'SQLite'
  readonly databaseVersion?: string | undefined
  readonly driverVersion: string
  readonly user?: string | undefined
  /** Only when AWS_XRAY_COLLECT_SQL_QUERIES is on; never the parameters. */
  readonly query?: string | undefined
}

/** The handle a traced call gets to describe itself; every method is a no-op when the request is not sampled. */
export interface Span {
  /** This subsegment's id (the Parent of the next hop), undefined when not sampled. */
  readonly id: string | undefined
  http(
    request: { method: string; url: string },
    response?: { status: number; contentLength?: number | undefined },
  ): void
  sql(info: SqlInfo): void
  annotate(key: string, value: string | number | boolean): void
  /** The call failed: fault with the exception as cause (remote: the other side failed). */
  fail(error: unknown, remote: boolean): void
}

export interface Tracer {
  /**
   * Opens a request's trace as it arrives; the server runs its handler in the scope and finishes with it.
   * Undefined when tracing is off, so the server's path stays exactly as it is without tracing.
   */
  readonly begin: ((request: Request, path: string, peer: PeerAddress) => RequestScope) | undefined
  /** begin, run and finish in one call, for a handler outside the HTTP server (tests, tools). */
  around(request: Request, clientIp: PeerAddress, next: (request: Request) => Promise<Response>): Promise<Response>
  /** An Elysia plugin that remembers a thrown error, so a 5xx segment carries it as its cause. */
  readonly plugin: Elysia
  /** fetch that records a remote subsegment and sends X-Amzn-Trace-Id to the callee. */
  readonly fetch: FetchLike
  trace<T>(kind: SubsegmentKind, name: string, work: (span: Span) => Promise<T>): Promise<T>
  /** The header to hand to later work that should continue this request's trace (the outbox). */
  currentTraceHeader(): string | undefined
  /** Runs work as part of the trace a stored header names (or untraced without one). */
  continueTrace<T>(header: string | null | undefined, work: () => Promise<T>): Promise<T>
  /** Background work outside any request: no subsegments and no context-missing complaints. */
  untraced<T>(work: () => Promise<T>): Promise<T>
  /** `traceId` for log lines written while handling a request. */
  logFields(): LogFields | undefined
  close(): Promise<void>
}

interface TraceContext {
  readonly traceId: string
  readonly sampled: boolean
  /** The incoming Parent, or the detached parent when continuing a stored trace. */
  readonly parentId: string | undefined
  /** The document tree being built, and where new subsegments go in it. */
  readonly tree: SegmentTree | undefined
  readonly entity: EntityDocument | undefined
  /** The X-Amzn-Trace-Id answer of the request being handled (shared by the request's nested contexts). */
  readonly reply: Reply | undefined
  /** Set by the Elysia plugin when a handler throws. */
  error?: unknown
}

interface Reply {
  /** The X-Amzn-Trace-Id value. */
  readonly answer: string
  /** A response was built with it (see addResponseHeaderSource); otherwise it is set at the end. */
  applied: boolean
}

const traceHeaderName = 'x-amzn-trace-id'
const untracedMarker = Symbol('untraced')
type Store = TraceContext | typeof untracedMarker

const healthPaths = ['/usermgmt/health*', '/notification/health*']

/** SDK default (1 a second, then 5%), never the health paths the ALB and kubelet poll. */
export const defaultSamplingRules: SamplingRules = {
  version: 2,
  rules: healthPaths.map((url_path) => ({
    description: 'Health checks: polled every 10-15 s by the ALB and the kubelet',
    host: '*',
    http_method: '*',
    url_path,
    fixed_target: 0,
    rate: 0,
  })),
  default: { fixed_target: 1, rate: 0.05 },
}

/** A tracing setting the user must fix (a sampling rules file): one line, exit 2, like every configuration problem. */
/** Every request traced, health checks included: `./app dev` and the tests, where the first request should show. */
export const traceEverything: SamplingRules = { version: 2, rules: [], default: { fixed_target: 1, rate: 1 } }

export class TracingConfigError extends CliProblems {
  constructor(message: string) {
    super([message])
    this.name = 'TracingConfigError'
  }
}

// Finished documents go to the exporters in batches: a full batch at once, else whatever waited this long. Each
// hand-over to a sender worker wakes it, which costs more than the datagrams it carries; the daemon holds
// documents up to a second anyway.
const exportAtDocuments = 128
const exportEveryMs = 50

/** Reads and validates a local rules file (AWS_XRAY_SAMPLING_RULES). */
export function loadSamplingRules(file: string): SamplingRules {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new TracingConfigError(
      `AWS_XRAY_SAMPLING_RULES: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
  const parsed = samplingRules.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new TracingConfigError(
      `AWS_XRAY_SAMPLING_RULES: ${file}: ${issue?.path.join('.') || 'file'}: ${issue?.message ?? 'invalid'}`,
    )
  }
  return parsed.data
}

export interface TracerOptions {
  readonly config: XrayConfig
  readonly log: Logger
  /** Where finished documents go. @default X-Ray documents over `sink` */
  readonly exporter?: SpanExporter
  /** Where X-Ray documents go when no exporter is given. @default UDP to config.daemonUdp */
  readonly sink?: SegmentSink
  /** Local rules; the file named by config.samplingRulesFile wins. @default defaultSamplingRules */
  readonly samplingRules?: SamplingRules
  /** Use the daemon's centralized sampling, falling back to the local rules. @default true */
  readonly centralizedSampling?: boolean
  /** service.version on every segment. */
  readonly version?: string
  /** On EKS: `aws.eks` and `origin: AWS::EKS::Container` on every segment once known (see eks.ts). */
  readonly eks?: Promise<EksMetadata | undefined> | EksMetadata | undefined
}

function toRequest(input: string | URL | Request, init?: RequestInit): Request {
  return input instanceof Request ? new Request(input, init) : new Request(input.toString(), init)
}

function stripQuery(url: string): string {
  const q = url.search(/[?#]/)
  return q < 0 ? url : url.slice(0, q)
}

function clip(text: string, max = 250): string {
  return text.length > max ? text.slice(0, max) : text
}

const noSpan: Span = { id: undefined, http() {}, sql() {}, annotate() {}, fail() {} }

function spanFor(entity: EntityDocument): Span {
  return {
    id: entity.id,
    http(request, response) {
      entity.http = {
        request: { method: request.method, url: clip(stripQuery(request.url)) },
        ...(response
          ? {
              response: {
                status: response.status,
                ...(response.contentLength === undefined ? {} : { content_length: response.contentLength }),
              },
            }
          : {}),
      }
      entity.traced = true
      if (response) flagStatus(entity, response.status)
    },
    sql(info) {
      entity.sql = {
        url: clip(info.url),
        database_type: info.databaseType,
        ...(info.databaseVersion ? { database_version: clip(info.databaseVersion) } : {}),
        driver_version: clip(info.driverVersion),
        ...(info.user ? { user: clip(info.user) } : {}),
        preparation: 'statement',
        ...(info.query ? { sanitized_query: info.query } : {}),
      }
    },
    annotate(key, value) {
      if (!/^[A-Za-z0-9_]{1,500}$/.test(key)) return
      entity.annotations ??= {}
      entity.annotations[key] = typeof value === 'string' ? value.slice(0, 1000) : value
    },
    fail(error, remote) {
      addCause(entity, error, remote)
    },
  }
}

/**
 * The X-Ray layer: segments per request, subsegments per call, context in AsyncLocalStorage so it follows
 * every await, timer and parallel branch under Bun. aws-xray-sdk-core supplies the segment model,
 * serialization and sampling; nothing here knows about users or mail.
 */
export function createTracer(options: TracerOptions): Tracer {
  const { config, log } = options
  const storage = new AsyncLocalStorage<Store>()
  const exporter =
    options.exporter ?? createXrayExporter(options.sink ?? createUdpEmitter({ address: config.daemonUdp, log }), log)
  const rules = config.samplingRulesFile
    ? loadSamplingRules(config.samplingRulesFile)
    : (options.samplingRules ?? defaultSamplingRules)
  useLogger(log)
  setSamplingDaemon(config.daemonTcp.host, config.daemonTcp.port)
  const centralized = options.centralizedSampling ?? true
  configureSampling({ rules, centralized })
  const localSample = createLocalSampler(rules)
  const daemonHasRules = centralized ? startCentralizedSampling() : () => false
  const skipHealth = config.samplingRulesFile === undefined
  let eks: EksMetadata | undefined
  void Promise.resolve(options.eks).then((found) => {
    eks = found
  })
  const service = { name: 'app', version: options.version ?? '0.0.0', runtime: 'bun', runtime_version: Bun.version }
  const sdkData = { xray: { sdk: 'app X-Ray layer for Bun', sdk_version: options.version ?? '0.0.0' } }

  // Finished documents go to the exporter in batches, off the request that finished them: serializing each as
  // it ended cost more CPU per request at 100% sampling and no less at default sampling.
  let finished: EntityDocument[] = []
  let exportTimer: ReturnType<typeof setTimeout> | undefined
  const exportFinished = () => {
    clearTimeout(exportTimer)
    exportTimer = undefined
    if (finished.length === 0) return
    const batch = finished
    finished = []
    exporter.export(batch)
  }
  const send = (document: EntityDocument) => {
    finished.push(document)
    if (finished.length >= exportAtDocuments) exportFinished()
    else exportTimer ??= setTimeout(exportFinished, exportEveryMs)
  }

  const removeHeaderSource = addResponseHeaderSource({
    name: traceHeaderName,
    value() {
      const store = storage.getStore()
      if (store === undefined || store === untracedMarker || store.reply === undefined) return undefined
      store.reply.applied = true
      return store.reply.answer
    },
  })

  const contextMissing = (what: string) => {
    if (config.contextMissing === 'RUNTIME_ERROR') throw new Error(`X-Ray context missing for ${what}`)
    if (config.contextMissing === 'LOG_ERROR') {
      log.error('X-Ray context missing: traced call outside a request', { call: what })
    }
  }

  const current = (): TraceContext | undefined => {
    const store = storage.getStore()
    return store === untracedMarker ? undefined : store
  }

  async function trace<T>(kind: SubsegmentKind, name: string, work: (span: Span) => Promise<T>): Promise<T> {
    const store = storage.getStore()
    if (store === undefined) {
      contextMissing(`${kind} ${name}`)
      return work(noSpan)
    }
    if (store === untracedMarker || !store.sampled) return work(noSpan)
    let tree = store.tree
    let subsegment: EntityDocument
    if (tree && store.entity) {
      subsegment = tree.open(store.entity, name)
    } else {
      // Continuing a trace whose segment is gone (sent long ago, or in another process): an independent subsegment.
      subsegment = {
        id: newEntityId(),
        name,
        start_time: now(),
        namespace: 'remote',
        type: 'subsegment',
        trace_id: store.traceId,
        parent_id: store.parentId ?? newEntityId(),
      }
      tree = new SegmentTree(subsegment, send)
    }
    const span = spanFor(subsegment)
    try {
      // A query is a leaf: nothing traced happens inside it, so it needs no context of its own.
      if (kind === 'sql') return await work(span)
      return await storage.run({ ...store, tree, entity: subsegment }, () => work(span))
    } catch (error) {
      if (!subsegment.fault) span.fail(error, true)
      throw error
    } finally {
      if (tree.document === subsegment) tree.end()
      else tree.close(subsegment)
    }
  }

  const tracedFetch: FetchLike = async (input, init) => {
    const request = toRequest(input, init)
    const store = current()
    if (!store) {
      if (storage.getStore() === undefined) contextMissing(`http ${new URL(request.url).host}`)
      return fetch(request)
    }
    return trace('http', new URL(request.url).hostname, async (span) => {
      request.headers.set('x-amzn-trace-id', formatTraceHeader(store.traceId, span.id ?? store.parentId, store.sampled))
      try {
        const response = await fetch(request)
        const length = response.headers.get('content-length')
        span.http(
          { method: request.method, url: request.url },
          { status: response.status, contentLength: length === null ? undefined : Number(length) },
        )
        return response
      } catch (error) {
        span.http({ method: request.method, url: request.url })
        throw error
      }
    })
  }

  const plugin = new Elysia({ name: 'xray' }).onError({ as: 'global' }, function rememberErrorForTrace({ error }) {
    const store = current()
    if (store) store.error = error
  })

  /** Sampling for a request without a decision in its header: health paths never, then the rules. */
  const decide = (request: Request, path: string): boolean => {
    if (skipHealth && (path.startsWith('/usermgmt/health') || path.startsWith('/notification/health'))) return false
    const host = () => request.headers.get('host') ?? ''
    if (daemonHasRules()) {
      return shouldSample({ host: host(), method: request.method, path, serviceName: config.tracingName })
    }
    return localSample(request.method, path, host)
  }

  /** A request's trace from its arrival: the context its handler runs in, and what happens to its response. */
  abstract class RequestTrace implements RequestScope, TraceContext {
    abstract readonly sampled: boolean
    abstract readonly tree: SegmentTree | undefined
    abstract readonly entity: EntityDocument | undefined
    error?: unknown
    constructor(
      readonly traceId: string,
      readonly parentId: string | undefined,
      readonly reply: Reply,
    ) {}
    run(handler: Parameters<RequestScope['run']>[0], request: Request, path: string): Promise<Response> {
      return storage.run(this, handler, request, path, this)
    }
    abstract finish(response: Response): Response
    /** The handler threw instead of answering (only outside the HTTP server, which answers every error). */
    abstract fail(error: unknown): void
  }

  /** A request that is not sampled: its context carries the trace id and Sampled=0 on, and nothing is recorded. */
  class UnsampledRequest extends RequestTrace {
    readonly sampled = false
    readonly tree = undefined
    readonly entity = undefined
    finish(response: Response): Response {
      return answered(response, this.reply)
    }
    fail() {}
  }

  /** A sampled request: its segment, sent when the response is. */
  class SampledRequest extends RequestTrace {
    readonly sampled = true
    readonly tree: SegmentTree
    readonly entity: EntityDocument
    constructor(
      traceId: string,
      parentId: string | undefined,
      reply: Reply,
      private readonly httpRequest: Record<string, string | boolean>,
    ) {
      super(traceId, parentId, reply)
      // Plain assignments rather than spreads of optional parts: this runs for every sampled request.
      const entity: EntityDocument = {
        trace_id: traceId,
        id: newEntityId(),
        name: config.tracingName,
        start_time: now(),
        aws: sdkData,
        service,
        http: { request: httpRequest },
      }
      if (parentId) entity.parent_id = parentId
      if (eks) {
        entity.origin = 'AWS::EKS::Container'
        entity.aws = { ...sdkData, eks }
      }
      this.entity = entity
      this.tree = new SegmentTree(this.entity, send)
    }
    finish(response: Response): Response {
      const document = this.entity
      const length = response.headers.get('content-length')
      document.http = {
        request: this.httpRequest,
        response: { status: response.status, ...(length === null ? {} : { content_length: Number(length) }) },
      }
      flagStatus(document, response.status)
      if (response.status >= 500 && this.error !== undefined) addCause(document, this.error, false)
      this.tree.end()
      return answered(response, this.reply)
    }
    fail(error: unknown) {
      addCause(this.entity, error, false)
      this.tree.end()
    }
  }

  const httpRequestOf = (request: Request, peer: PeerAddress): Record<string, string | boolean> => {
    const forwarded = request.headers.get('x-forwarded-for')
    const userAgent = request.headers.get('user-agent')
    const http: Record<string, string | boolean> = { method: request.method, url: clip(stripQuery(request.url)) }
    if (forwarded) {
      http['client_ip'] = clip(forwarded.split(',')[0]?.trim() ?? '')
      http['x_forwarded_for'] = true
    } else {
      const address = peer(request)
      if (address) http['client_ip'] = address
    }
    if (userAgent) http['user_agent'] = clip(userAgent)
    return http
  }

  const begin = (request: Request, path: string, peer: PeerAddress): RequestTrace => {
    const header = request.headers.get(traceHeaderName)
    const incoming = header === null ? undefined : parseTraceHeader(header)
    const sampled = incoming?.sampled === '1' ? true : incoming?.sampled === '0' ? false : decide(request, path)
    const traceId = incoming?.root ?? newTraceId()
    const answer = `Root=${traceId}${incoming?.sampled === '?' ? `;Sampled=${sampled ? '1' : '0'}` : ''}`
    const reply: Reply = { answer, applied: false }
    return sampled
      ? new SampledRequest(traceId, incoming?.parent, reply, httpRequestOf(request, peer))
      : new UnsampledRequest(traceId, incoming?.parent, reply)
  }

  return {
    begin,
    around(request, clientIp, next) {
      const path = pathOf(request.url)
      const scope = begin(request, path, clientIp)
      return scope
        .run((r) => next(r), request, path)
        .then(
          (response) => scope.finish(response),
          (error: unknown) => {
            scope.fail(error)
            throw error
          },
        )
    },
    plugin,
    fetch: tracedFetch,
    trace,
    currentTraceHeader() {
      const store = current()
      if (!store) return undefined
      return formatTraceHeader(store.traceId, store.entity?.id ?? store.parentId, store.sampled)
    },
    continueTrace(header, work) {
      const parsed = parseTraceHeader(header)
      if (!parsed) return storage.run(untracedMarker, work)
      const context: TraceContext = {
        traceId: parsed.root,
        sampled: parsed.sampled === '1',
        parentId: parsed.parent,
        tree: undefined,
        entity: undefined,
        reply: undefined,
      }
      return storage.run(context, work)
    },
    untraced: (work) => storage.run(untracedMarker, work),
    logFields() {
      const store = current()
      return store ? { traceId: store.traceId } : undefined
    },
    async close() {
      removeHeaderSource()
      exportFinished()
      await exporter.close()
    },
  }
}

/** The response with the request's X-Amzn-Trace-Id, set now unless it was built with it. */
function answered(response: Response, reply: Reply): Response {
  if (reply.applied) return response
  const value = reply.answer
  try {
    response.headers.set(traceHeaderName, value)
    return response
  } catch {
    // An immutable response (Response.redirect, a fetched one): answer with a copy.
    const copy = new Response(response.body, response)
    copy.headers.set(traceHeaderName, value)
    return copy
  }
}

/** Tracing switched off (AWS_XRAY_SDK_ENABLED=false): the same interface, doing nothing. */
export function createDisabledTracer(): Tracer {
  return {
    begin: undefined,
    around: (request, _clientIp, next) => next(request),
    plugin: new Elysia({ name: 'xray' }),
    fetch: (input, init) => fetch(toRequest(input, init)),
    trace: (_kind, _name, work) => work(noSpan),
    currentTraceHeader: () => undefined,
    continueTrace: (_header, work) => work(),
    untraced: (work) => work(),
    logFields: () => undefined,
    close: async () => {},
  }
}

/**
 * The tracer a role's configuration asks for: off when AWS_XRAY_SDK_ENABLED=false or OTEL_SDK_DISABLED=true,
 * otherwise sending to the exporters OTEL_TRACES_EXPORTER names (X-Ray by default).
 */
export function tracerFromConfig(config: XrayConfig, log: Logger, version: string): Tracer {
  if (!config.enabled) return createDisabledTracer()
  const xrayLog = log.child({ component: 'xray' })
  // Found in the background, so start-up never waits: a segment sent before the answer has no aws.eks.
  const eks = detectEks({ kubernetes: config.kubernetes, log: xrayLog }).then((found) => {
    if (found) xrayLog.info('running on EKS; segments carry aws.eks', { cluster: found.cluster_name, pod: found.pod })
    return found
  })
  const exporter = exporterFromConfig(config, { log: xrayLog, version, eks })
  return createTracer({ config, log: xrayLog, version, eks, exporter })
}
