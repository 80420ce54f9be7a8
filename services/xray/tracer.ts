import { AsyncLocalStorage } from 'node:async_hooks'
import { readFileSync } from 'node:fs'
import {
  CliProblems,
  contentLengthOf,
  describeIssue,
  type FetchLike,
  failureOf,
  type LogFields,
  type Logger,
  type Middleware,
  messageOf,
  type PeerAddress,
  pathOf,
  type RequestContext,
  type XrayConfig,
} from '../platform'
import { detectEks, type EksMetadata } from './eks'
import { createUdpEmitter, type SegmentSink } from './emitter'
import { exporterFromConfig } from './export-config'
import { createXrayExporter, type SpanExporter } from './exporter'
import { createLocalSampler, wildcard } from './local-sampler'
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
import {
  formatTraceHeader,
  formatTraceParent,
  parseTraceHeader,
  parseTraceParent,
  toW3cTraceId,
  toXrayTraceId,
} from './trace-header'

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
   * The one way tracing enters the HTTP path, around every request's handler: continue or start the trace, decide
   * sampling, run the handler in the trace's context, record the answer. Undefined when tracing is off, so the
   * server's path stays exactly as it is without tracing.
   */
  readonly middleware: Middleware | undefined
  /** The middleware around a handler outside the HTTP server (tests, tools). */
  around(request: Request, next: (request: Request) => Promise<Response>, peer?: PeerAddress): Promise<Response>
  /** fetch that records a remote subsegment and sends the trace on (X-Amzn-Trace-Id, traceparent) to the callee. */
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
  /** The X-Ray form; the W3C form is the same id (toW3cTraceId). */
  readonly traceId: string
  readonly sampled: boolean
  /** The incoming Parent, or the detached parent when continuing a stored trace. */
  readonly parentId: string | undefined
  /** The document tree being built, and where new subsegments go in it. */
  readonly tree: SegmentTree | undefined
  readonly entity: EntityDocument | undefined
  /** The request whose tracestate and baggage the trace's calls carry on as they came; read only when one is made. */
  readonly origin: Request | undefined
}

const xrayHeader = 'x-amzn-trace-id'
const untracedMarker = Symbol('untraced')
type Store = TraceContext | typeof untracedMarker

/** The SDK's default: 1 request a second, then 5% of the rest. */
export const defaultSamplingRules: SamplingRules = { version: 2, rules: [], default: { fixed_target: 1, rate: 0.05 } }

/** Every request traced: `./app dev` and the tests, where the first request should show at once. */
export const traceEverything: SamplingRules = { version: 2, rules: [], default: { fixed_target: 1, rate: 1 } }

/** A tracing setting the user must fix (a sampling rules file): one line, exit 2, like every configuration problem. */
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
    throw new TracingConfigError(`AWS_XRAY_SAMPLING_RULES: cannot read ${file}: ${messageOf(error)}`)
  }
  // Parsed once, so without zod's compiled fast path, as the configuration is.
  const parsed = samplingRules.safeParse(raw, { jitless: true })
  if (!parsed.success) {
    throw new TracingConfigError(`AWS_XRAY_SAMPLING_RULES: ${file}: ${describeIssue(parsed.error.issues[0], 'file')}`)
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
  /**
   * URL paths never sampled (the SDKs' wildcards: `*` any run, `?` one character), such as the health checks the ALB
   * and the kubelet poll every few seconds; a rules file replaces this with its own rules. @default none
   */
  readonly neverSample?: readonly string[]
  /** Use the daemon's centralized sampling, falling back to the local rules. @default true */
  readonly centralizedSampling?: boolean
  /** How long after start-up the daemon is first asked for rules. @default 1000 */
  readonly centralizedSamplingDelayMs?: number
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
      const http: HttpBlock = { request: { method: request.method, url: clip(stripQuery(request.url)) } }
      if (response) http.response = httpResponse(response.status, response.contentLength)
      entity.http = http
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

/** What an incoming request says about its trace, whichever header said it. */
interface Incoming {
  readonly traceId: string
  readonly parentId: string | undefined
  /** '1' or '0' when the caller decided; '?' when it asks us to decide and tell it; undefined: we decide. */
  readonly sampled: '1' | '0' | '?' | undefined
}

/**
 * The trace a request continues. X-Amzn-Trace-Id and traceparent are read as OTEL_PROPAGATORS allows; when both
 * came, the one naming a parent span wins (the ALB adds a Root-only X-Amzn-Trace-Id in front of every request,
 * which must not cut a traceparent's trace), and between two with parents the later propagator, as OpenTelemetry's
 * composite propagator does.
 */
function incomingTrace(request: Request, readXray: boolean, readW3c: boolean, xrayLast: boolean): Incoming | undefined {
  const headers = request.headers
  const xray = readXray ? parseTraceHeader(headers.get(xrayHeader)) : undefined
  const w3c = readW3c ? parseTraceParent(headers.get('traceparent')) : undefined
  const fromW3c = w3c && {
    traceId: toXrayTraceId(w3c.traceId),
    parentId: w3c.parentId,
    sampled: w3c.sampled ? ('1' as const) : ('0' as const),
  }
  const fromXray = xray && { traceId: xray.root, parentId: xray.parent, sampled: xray.sampled }
  if (!fromXray || !fromW3c) return fromXray ?? fromW3c
  if (fromXray.parentId === undefined) return fromW3c
  return xrayLast ? fromXray : fromW3c
}

/**
 * The X-Ray layer: segments per request, subsegments per call, context in AsyncLocalStorage so it follows
 * every await, timer and parallel branch under Bun. aws-xray-sdk-core supplies sampling; nothing here knows
 * about users, mail or any role's paths.
 */
export function createTracer(options: TracerOptions): Tracer {
  const { config, log } = options
  const storage = new AsyncLocalStorage<Store>()
  const exporter =
    options.exporter ?? createXrayExporter(options.sink ?? createUdpEmitter({ address: config.daemonUdp, log }), log)
  const rules = config.samplingRulesFile
    ? loadSamplingRules(config.samplingRulesFile)
    : (options.samplingRules ?? defaultSamplingRules)
  const localSample = createLocalSampler(rules)
  // The local rules decide until the daemon serves its own. aws-xray-sdk-core, which polls the daemon for them, is
  // loaded a moment after start-up rather than before the first request can be answered.
  let daemonHasRules: () => boolean = () => false
  const startSdk = () => {
    useLogger(log)
    setSamplingDaemon(config.daemonTcp.host, config.daemonTcp.port)
    configureSampling({ rules, centralized: true })
    daemonHasRules = startCentralizedSampling()
  }
  const sdkTimer =
    (options.centralizedSampling ?? true) ? setTimeout(startSdk, options.centralizedSamplingDelayMs ?? 1000) : undefined
  sdkTimer?.unref()
  const neverSample = (config.samplingRulesFile === undefined ? (options.neverSample ?? []) : []).map(
    (pattern) => wildcard(pattern) ?? (() => true),
  )
  const propagators = config.propagators
  const readXray = propagators.includes('xray')
  const readW3c = propagators.includes('tracecontext')
  const carryBaggage = propagators.includes('baggage')
  const xrayLast = propagators.lastIndexOf('xray') > propagators.lastIndexOf('tracecontext')
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

  /** The headers that carry the trace to a callee whose call is `spanId` (the caller's own span when unsampled). */
  const propagate = (headers: Headers, store: TraceContext, spanId: string | undefined) => {
    if (readXray) headers.set(xrayHeader, formatTraceHeader(store.traceId, spanId, store.sampled))
    if (readW3c) {
      headers.set('traceparent', formatTraceParent(toW3cTraceId(store.traceId), spanId ?? newEntityId(), store.sampled))
      const tracestate = store.origin?.headers.get('tracestate')
      if (tracestate) headers.set('tracestate', tracestate)
    }
    const baggage = carryBaggage ? store.origin?.headers.get('baggage') : undefined
    if (baggage) headers.set('baggage', baggage)
  }

  const tracedFetch: FetchLike = async (input, init) => {
    const request = toRequest(input, init)
    const store = current()
    if (!store) {
      if (storage.getStore() === undefined) contextMissing(`http ${new URL(request.url).host}`)
      return fetch(request)
    }
    return trace('http', new URL(request.url).hostname, async (span) => {
      propagate(request.headers, store, span.id ?? store.parentId)
      try {
        const response = await fetch(request)
        span.http(
          { method: request.method, url: request.url },
          { status: response.status, contentLength: contentLengthOf(response) },
        )
        return response
      } catch (error) {
        span.http({ method: request.method, url: request.url })
        throw error
      }
    })
  }

  /** Sampling for a request without a decision from its caller: the paths never sampled, then the rules. */
  const decide = (request: Request, path: string): boolean => {
    for (const match of neverSample) if (match(path)) return false
    const host = () => request.headers.get('host') ?? ''
    if (daemonHasRules()) {
      return shouldSample({ host: host(), method: request.method, path, serviceName: config.tracingName })
    }
    return localSample(request.method, path, host)
  }

  /** A request's trace from its arrival: the context its handler runs in, and what happens to its response. */
  abstract class RequestTrace implements TraceContext {
    abstract readonly sampled: boolean
    abstract readonly tree: SegmentTree | undefined
    abstract readonly entity: EntityDocument | undefined
    constructor(
      readonly traceId: string,
      readonly parentId: string | undefined,
      /** The X-Amzn-Trace-Id every answer carries. */
      readonly answer: string,
      readonly origin: Request,
    ) {}
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
      return answered(response, this.answer)
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
      answer: string,
      private readonly context: RequestContext,
      private readonly httpRequest: HttpRequestBlock,
    ) {
      super(traceId, parentId, answer, context.request)
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
      document.http = { request: this.httpRequest, response: httpResponse(response.status, contentLengthOf(response)) }
      flagStatus(document, response.status)
      if (response.status >= 500) {
        const failure = failureOf(this.context.request)
        if (failure !== undefined) addCause(document, failure, false)
      }
      this.tree.end()
      return answered(response, this.answer)
    }
    fail(error: unknown) {
      addCause(this.entity, error, false)
      this.tree.end()
    }
  }

  const httpRequestOf = (request: Request, context: RequestContext): HttpRequestBlock => {
    const forwarded = request.headers.get('x-forwarded-for')
    const userAgent = request.headers.get('user-agent')
    const http: HttpRequestBlock = { method: request.method, url: clip(stripQuery(request.url)) }
    if (forwarded) {
      // The client as the first proxy saw it, as the SDKs record it; x_forwarded_for says it came from the header.
      http.client_ip = clip(forwarded.split(',')[0]?.trim() ?? '')
      http.x_forwarded_for = true
    } else {
      const address = context.peer()
      if (address) http.client_ip = address
    }
    if (userAgent) http.user_agent = clip(userAgent)
    return http
  }

  const begin = (context: RequestContext): RequestTrace => {
    const { request } = context
    const incoming = incomingTrace(request, readXray, readW3c, xrayLast)
    const sampled = incoming?.sampled === '1' ? true : incoming?.sampled === '0' ? false : decide(request, context.path)
    const traceId = incoming?.traceId ?? newTraceId()
    const answer = `Root=${traceId}${incoming?.sampled === '?' ? `;Sampled=${sampled ? '1' : '0'}` : ''}`
    return sampled
      ? new SampledRequest(traceId, incoming?.parentId, answer, context, httpRequestOf(request, context))
      : new UnsampledRequest(traceId, incoming?.parentId, answer, request)
  }

  const middleware: Middleware = function traceRequest(context, next) {
    const requestTrace = begin(context)
    let answer: Response | Promise<Response>
    try {
      answer = storage.run(requestTrace, next)
    } catch (error) {
      requestTrace.fail(error)
      throw error
    }
    // A handler that answered at once is finished at once: no promise for the common case.
    if (answer instanceof Response) return requestTrace.finish(answer)
    return answer.then(
      (response) => requestTrace.finish(response),
      (error: unknown) => {
        requestTrace.fail(error)
        throw error
      },
    )
  }

  return {
    middleware,
    async around(request, next, peer) {
      const context: RequestContext = { request, path: pathOf(request.url), peer: () => peer?.(request) }
      return middleware(context, () => next(request))
    },
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
        origin: undefined,
      }
      return storage.run(context, work)
    },
    untraced: (work) => storage.run(untracedMarker, work),
    logFields() {
      const store = current()
      return store ? { traceId: store.traceId } : undefined
    },
    async close() {
      clearTimeout(sdkTimer)
      exportFinished()
      await exporter.close()
    },
  }
}

type HttpBlock = NonNullable<EntityDocument['http']>
type HttpRequestBlock = NonNullable<HttpBlock['request']>

/** The answer's part of an http block, for a segment and a subsegment alike: a length only when one is known. */
function httpResponse(status: number, contentLength: number | undefined): NonNullable<HttpBlock['response']> {
  return contentLength === undefined ? { status } : { status, content_length: contentLength }
}

/** The response with the request's X-Amzn-Trace-Id. */
function answered(response: Response, value: string): Response {
  try {
    response.headers.set(xrayHeader, value)
    return response
  } catch {
    // An immutable response (Response.redirect, a fetched one): answer with a copy.
    const copy = new Response(response.body, response)
    copy.headers.set(xrayHeader, value)
    return copy
  }
}

/** Tracing switched off (AWS_XRAY_SDK_ENABLED=false): the same interface, doing nothing. */
export function createDisabledTracer(): Tracer {
  return {
    middleware: undefined,
    around: (request, next) => next(request),
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
export function tracerFromConfig(
  config: XrayConfig,
  log: Logger,
  version: string,
  options: Pick<TracerOptions, 'neverSample'> = {},
): Tracer {
  if (!config.enabled) return createDisabledTracer()
  const xrayLog = log.child({ component: 'xray' })
  // Found in the background, so start-up never waits: a segment sent before the answer has no aws.eks.
  const eks = detectEks({ kubernetes: config.kubernetes, log: xrayLog }).then((found) => {
    if (found) xrayLog.info('running on EKS; segments carry aws.eks', { cluster: found.cluster_name, pod: found.pod })
    return found
  })
  const exporter = exporterFromConfig(config, { log: xrayLog, version, eks })
  return createTracer({ config, log: xrayLog, version, eks, exporter, neverSample: options.neverSample })
}
