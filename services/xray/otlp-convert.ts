// Finished segment documents as OTLP spans, built per batch at export time, so that the request path does no more
// work for OTLP than for X-Ray. The spans carry what the collector's awsxray exporter (and X-Ray's OTLP endpoint)
// reads to draw the service map our segment documents draw (exporter/awsxrayexporter/internal/translator): a
// SERVER span per segment, named by the resource's service.name; a CLIENT span per remote subsegment, named by
// peer.service; db.name and db.connection_string (the names the translator still reads) beside the current
// db.* names for SQL; http.response.status_code for error, fault and throttle; exception events for the cause;
// annotations listed in aws.xray.annotations. Trace ids are the X-Ray ids without the `1-` and the dash.
import { hostForUrl } from '../platform'
import type { EksMetadata } from './eks'
import type { EntityDocument } from './model'
import {
  type AnyValue,
  type ExportTraceServiceRequest,
  type KeyValue,
  type OtlpSpan,
  spanKind,
  statusCode,
} from './otlp-model'

/** W3C trace flags (sampled), and the OTLP flag bits that say whether the parent is known to be remote or local. */
const sampledFlag = 0x01
const hasIsRemoteFlag = 0x100
const isRemoteFlag = 0x200

export interface OtlpResourceOptions {
  /** service.name: the segment name (AWS_XRAY_TRACING_NAME, OTEL_SERVICE_NAME, ...). */
  readonly serviceName: string
  /** service.version and telemetry.sdk.version. */
  readonly version: string
  /** OTEL_RESOURCE_ATTRIBUTES: added to (and overriding) what is detected here, service.name excepted. */
  readonly attributes?: Readonly<Record<string, string>> | undefined
  /** On EKS: cloud.*, k8s.* and container.id, which X-Ray turns into `origin` and `aws.eks`. */
  readonly eks?: EksMetadata | undefined
}

const stringValue = (key: string, value: string): KeyValue => ({ key, value: { stringValue: value } })

/** The resource every span of this process shares. */
export function otlpResource(options: OtlpResourceOptions): KeyValue[] {
  const attributes = new Map<string, string>([
    ['service.version', options.version],
    ['telemetry.sdk.name', 'app'],
    // X-Ray reads V8 stack traces only for these languages; Bun's are V8's format.
    ['telemetry.sdk.language', 'nodejs'],
    ['telemetry.sdk.version', options.version],
    ['process.runtime.name', 'bun'],
    ['process.runtime.version', Bun.version],
  ])
  const { eks } = options
  if (eks) {
    attributes.set('cloud.provider', 'aws')
    attributes.set('cloud.platform', 'aws_eks')
    attributes.set('k8s.cluster.name', eks.cluster_name)
    attributes.set('k8s.pod.name', eks.pod)
    if (eks.container_id) attributes.set('container.id', eks.container_id)
  }
  for (const [key, value] of Object.entries(options.attributes ?? {})) attributes.set(key, value)
  attributes.set('service.name', options.serviceName)
  return [...attributes].map(([key, value]) => stringValue(key, value))
}

/** The resource as a getter: it gains the EKS attributes once detection answers (start-up never waits for it). */
export function otlpResourceSource(
  options: Omit<OtlpResourceOptions, 'eks'> & {
    readonly eks?: Promise<EksMetadata | undefined> | EksMetadata | undefined
  },
): () => readonly KeyValue[] {
  let current = otlpResource({ ...options, eks: undefined })
  void Promise.resolve(options.eks).then((eks) => {
    if (eks) current = otlpResource({ ...options, eks })
  })
  return () => current
}

/** `1-5759e988-bd862e3fe1be46a994272793` as `5759e988bd862e3fe1be46a994272793`; undefined if it is no X-Ray id. */
export function otlpTraceId(xrayTraceId: string): string | undefined {
  return /^1-[0-9a-f]{8}-[0-9a-f]{24}$/i.test(xrayTraceId)
    ? `${xrayTraceId.slice(2, 10)}${xrayTraceId.slice(11)}`.toLowerCase()
    : undefined
}

/** Epoch seconds (microsecond resolution, as X-Ray keeps them) as the decimal nanoseconds OTLP/JSON carries. */
function nanos(seconds: number): string {
  return `${Math.round(seconds * 1_000_000)}000`
}

function annotationValue(value: string | number | boolean): AnyValue {
  if (typeof value === 'string') return { stringValue: value }
  if (typeof value === 'boolean') return { boolValue: value }
  return Number.isSafeInteger(value) ? { intValue: value } : { doubleValue: value }
}

/** `GET` rather than the URL: span names of HTTP spans are low-cardinality (no route is known here). */
function spanName(entity: EntityDocument, database: DatabaseTarget | undefined): string {
  return entity.http?.request?.method ?? database?.name ?? entity.name
}

interface DatabaseTarget {
  readonly name: string
  readonly host: string | undefined
  readonly port: number | undefined
  readonly system: string
}

/**
 * Our SQL subsegments are named `database@host` (the X-Ray SDKs' convention), which is also how the translator
 * names db.name and the host of db.connection_string: taking both from the name keeps the node the same.
 */
function databaseTarget(entity: EntityDocument): DatabaseTarget | undefined {
  const sql = entity.sql
  if (!sql) return undefined
  const at = entity.name.indexOf('@')
  const port = /^[a-z][a-z0-9+.-]*:\/\/(?:\[[^\]]*\]|[^/:]*):(\d{1,5})(?:\/|$)/i.exec(sql.url ?? '')?.[1]
  return {
    name: at < 0 ? entity.name : entity.name.slice(0, at),
    host: at < 0 ? undefined : entity.name.slice(at + 1),
    port: port === undefined ? undefined : Number(port),
    system: (sql.database_type ?? 'other_sql').toLowerCase(),
  }
}

/** V8's stack format, which the translator parses back into frames for the languages it knows. */
function stacktrace(type: string, message: string, stack: readonly { path?: string; line?: number; label?: string }[]) {
  const frames = stack.map((frame) => `    at ${frame.label ?? 'anonymous'} (${frame.path ?? ''}:${frame.line ?? 0}:0)`)
  return [`${type}: ${message}`, ...frames].join('\n')
}

interface SpanPlace {
  readonly traceId: string
  readonly parentId: string | undefined
  readonly kind: number
  readonly remoteParent: boolean
}

function toSpan(entity: EntityDocument, place: SpanPlace): OtlpSpan {
  const attributes: KeyValue[] = []
  const text = (key: string, value: string) => attributes.push(stringValue(key, value))
  const integer = (key: string, value: number) => attributes.push({ key, value: { intValue: value } })
  const server = place.kind === spanKind.server
  const client = place.kind === spanKind.client
  if (client) text('peer.service', entity.name)

  const request = entity.http?.request
  if (request) {
    if (request.method) text('http.request.method', request.method)
    if (request.url) {
      text('url.full', request.url)
      const url = URL.parse(request.url)
      if (url) {
        if (server) {
          text('url.scheme', url.protocol.replace(/:$/, ''))
          text('url.path', url.pathname)
        }
        text('server.address', url.hostname.replace(/^\[(.*)\]$/, '$1'))
        if (url.port !== '') integer('server.port', Number(url.port))
      }
    }
    if (request.client_ip) {
      text('client.address', request.client_ip)
      // Without X-Forwarded-For the client is the peer; the translator marks the address forwarded otherwise.
      if (request.x_forwarded_for !== true) text('network.peer.address', request.client_ip)
    }
    if (request.user_agent) text('user_agent.original', request.user_agent)
  }
  const response = entity.http?.response
  if (response?.status !== undefined) integer('http.response.status_code', response.status)
  if (response?.content_length !== undefined) integer('http.response.body.size', response.content_length)

  const database = databaseTarget(entity)
  if (database && entity.sql) {
    text('db.system', database.system)
    text('db.system.name', database.system)
    text('db.name', database.name)
    text('db.namespace', database.name)
    if (database.host !== undefined) {
      const port = database.port === undefined ? '' : `:${database.port}`
      text('db.connection_string', `${database.system}://${hostForUrl(database.host)}${port}`)
      text('server.address', database.host)
      if (database.port !== undefined) integer('server.port', database.port)
    }
    if (entity.sql.user) text('db.user', entity.sql.user)
    if (entity.sql.sanitized_query) {
      text('db.statement', entity.sql.sanitized_query)
      text('db.query.text', entity.sql.sanitized_query)
    }
  }

  if (entity.user) text('enduser.id', entity.user)
  const annotations = Object.entries(entity.annotations ?? {})
  if (annotations.length > 0) {
    for (const [key, value] of annotations) attributes.push({ key, value: annotationValue(value) })
    // The translator makes annotations (indexed, searchable) of exactly the attributes this lists.
    attributes.push({
      key: 'aws.xray.annotations',
      value: { arrayValue: { values: annotations.map(([key]) => ({ stringValue: key })) } },
    })
  }

  const span: OtlpSpan = {
    traceId: place.traceId,
    spanId: entity.id,
    flags: sampledFlag | hasIsRemoteFlag | (place.remoteParent ? isRemoteFlag : 0),
    name: spanName(entity, database),
    kind: place.kind,
    startTimeUnixNano: nanos(entity.start_time),
    endTimeUnixNano: nanos(entity.end_time ?? entity.start_time),
    attributes,
  }
  if (place.parentId) span.parentSpanId = place.parentId

  const cause = entity.cause
  const exceptions = cause !== undefined && typeof cause !== 'string' ? cause.exceptions : []
  if (exceptions.length > 0) {
    span.events = exceptions.map((exception) => {
      const type = exception.type ?? 'Error'
      const message = exception.message ?? ''
      const eventAttributes = [stringValue('exception.type', type), stringValue('exception.message', message)]
      if (exception.stack && exception.stack.length > 0) {
        eventAttributes.push(stringValue('exception.stacktrace', stacktrace(type, message, exception.stack)))
      }
      return { timeUnixNano: span.endTimeUnixNano, name: 'exception', attributes: eventAttributes }
    })
  }
  // As the HTTP conventions say: a server's 4xx is the client's doing (unset), a client's 4xx is an error.
  const failed = entity.fault === true || (client && entity.error === true)
  if (failed) {
    const message = exceptions[0]?.message
    span.status = message ? { code: statusCode.error, message } : { code: statusCode.error }
  }
  return span
}

function kindOf(entity: EntityDocument, isSegment: boolean): number {
  if (isSegment) return spanKind.server
  return entity.namespace === 'remote' || entity.namespace === 'aws' ? spanKind.client : spanKind.internal
}

function collectSpans(entity: EntityDocument, place: SpanPlace, spans: OtlpSpan[]): void {
  spans.push(toSpan(entity, place))
  for (const child of entity.subsegments ?? []) {
    if (child.end_time === undefined) continue
    const childPlace = {
      traceId: place.traceId,
      parentId: entity.id,
      kind: kindOf(child, false),
      remoteParent: false,
    }
    collectSpans(child, childPlace, spans)
  }
}

/** How many spans a document becomes: itself and every ended subsegment in it. */
export function spanCount(document: EntityDocument): number {
  let count = 1
  for (const child of document.subsegments ?? []) if (child.end_time !== undefined) count += spanCount(child)
  return count
}

/** The instrumentation scope our spans come from. */
export interface OtlpScope {
  readonly name: string
  readonly version: string
}

/**
 * A batch of finished documents as one export request: a segment is a SERVER span (its parent, when it has one,
 * is the caller's, in another process); an independent subsegment hangs under the parent it names. Documents
 * still in progress have nothing to say yet in OTLP, where spans are sent once, finished.
 */
export function toOtlpRequest(
  documents: readonly EntityDocument[],
  resource: readonly KeyValue[],
  scope: OtlpScope,
): ExportTraceServiceRequest {
  const spans: OtlpSpan[] = []
  for (const document of documents) {
    if (document.end_time === undefined || document.trace_id === undefined) continue
    const traceId = otlpTraceId(document.trace_id)
    if (traceId === undefined) continue
    const isSegment = document.type !== 'subsegment'
    collectSpans(
      document,
      {
        traceId,
        parentId: document.parent_id,
        kind: kindOf(document, isSegment),
        remoteParent: document.parent_id !== undefined,
      },
      spans,
    )
  }
  return {
    resourceSpans: [
      {
        resource: { attributes: [...resource] },
        scopeSpans: [{ scope: { name: scope.name, version: scope.version }, spans }],
      },
    ],
  }
}
