// OTLP spans as X-Ray segment documents, the way the collector's awsxray exporter translates them for X-Ray
// (exporter/awsxrayexporter/internal/translator), so that the console's collector, traces and service map work
// on them unchanged and draw spans and segments in one map, as X-Ray would. A SERVER span, a span without parent,
// or a local span whose parent is in another process is a segment; any other span a subsegment, nested in its
// parent's entity when the parent came in the same request, else an independent subsegment that names it.
import { randomBytes } from 'node:crypto'
import type {
  AnyValue,
  CauseDocument,
  Entity,
  ExportTraceServiceRequest,
  KeyValue,
  OtlpSpan,
  SegmentDocument,
} from '../xray'
import { spanKind, statusCode } from '../xray'
import { isSegmentDocument } from './document'

export interface TranslatedSpans {
  readonly documents: SegmentDocument[]
  /** Spans that could not be documents (bad ids or times), and why (the first few reasons). */
  readonly rejected: number
  readonly reasons: readonly string[]
}

type Attributes = ReadonlyMap<string, AnyValue>

const attributesOf = (list: readonly KeyValue[] | undefined): Attributes =>
  new Map((list ?? []).flatMap(({ key, value }) => (value ? [[key, value] as const] : [])))

const str = (attributes: Attributes, key: string): string | undefined => attributes.get(key)?.stringValue

function int(attributes: Attributes, key: string): number | undefined {
  const value = attributes.get(key)
  if (value?.intValue !== undefined) return Number(value.intValue)
  if (value?.doubleValue !== undefined) return value.doubleValue
  const text = value?.stringValue
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined
}

/** An attribute as JSON, for metadata: 64-bit integers beyond 2^53 stay text. */
function raw(value: AnyValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue
  if (value.boolValue !== undefined) return value.boolValue
  if (value.intValue !== undefined) {
    const number = Number(value.intValue)
    return Number.isSafeInteger(number) ? number : String(value.intValue)
  }
  if (value.doubleValue !== undefined) return value.doubleValue
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(raw)
  if (value.kvlistValue !== undefined) {
    return Object.fromEntries((value.kvlistValue.values ?? []).map(({ key, value: v }) => [key, v ? raw(v) : null]))
  }
  return value.bytesValue ?? null
}

// X-Ray's segment name characters (the translator's fixSegmentName).
const invalidNameCharacters = /[^ 0-9\p{L}N_.:/%&#=+\\\-@]/gu

function fixSegmentName(name: string): string {
  const fixed = name.replace(invalidNameCharacters, '').slice(0, 200)
  return fixed === '' ? 'span' : fixed
}

/** The translator's name order: the X-Ray-specific attributes, peer.service, AWS, database, service, then hosts. */
function segmentName(span: OtlpSpan, attributes: Attributes, resource: Attributes): string {
  const kind = span.kind ?? spanKind.unspecified
  const outgoing = kind === spanKind.client || kind === spanKind.producer || kind === spanKind.consumer
  let name = kind === spanKind.server ? str(attributes, 'aws.local.service') : undefined
  if (!name && outgoing) name = str(attributes, 'aws.remote.service')
  name ||= str(attributes, 'peer.service') ?? str(attributes, 'aws.service')
  if (!name) {
    const database = str(attributes, 'db.name')
    if (database) {
      const connection = str(attributes, 'db.connection_string')?.replace(/^jdbc:/, '')
      const host = connection ? URL.parse(connection)?.hostname.replace(/^\[(.*)\]$/, '$1') : undefined
      name = host ? `${database}@${host}` : database
    }
  }
  if (!name && kind === spanKind.server) name = str(resource, 'service.name')
  name ||= str(attributes, 'rpc.service') ?? str(attributes, 'http.host') ?? str(attributes, 'net.peer.name')
  return name ? name.slice(0, 200) : fixSegmentName(span.name)
}

type HttpBlock = NonNullable<Entity['http']>

/** The translator's makeHTTP: the old and the current HTTP conventions, the URL rebuilt when only parts came. */
function httpOf(span: OtlpSpan, attributes: Attributes): HttpBlock | undefined {
  const method = str(attributes, 'http.request.method') ?? str(attributes, 'http.method')
  const status = int(attributes, 'http.response.status_code') ?? int(attributes, 'http.status_code')
  const userAgent = str(attributes, 'user_agent.original') ?? str(attributes, 'http.user_agent')
  const fullUrl = str(attributes, 'url.full') ?? str(attributes, 'http.url')
  const scheme = str(attributes, 'url.scheme') ?? str(attributes, 'http.scheme')
  const path = str(attributes, 'url.path')
  const query = str(attributes, 'url.query')
  const target = str(attributes, 'http.target')
  const hasHttp =
    [method, status, userAgent, fullUrl, scheme, path, query, target].some((v) => v !== undefined) ||
    attributes.has('http.host') ||
    attributes.has('http.client_ip')
  if (!hasHttp) return undefined
  const peerAddress = str(attributes, 'network.peer.address') ?? str(attributes, 'net.peer.ip')
  const clientAddress = str(attributes, 'client.address') ?? str(attributes, 'http.client_ip') ?? peerAddress
  const server = span.kind === spanKind.server
  const host = server
    ? (str(attributes, 'http.host') ??
      str(attributes, 'http.server_name') ??
      str(attributes, 'net.host.name') ??
      str(attributes, 'host.name') ??
      str(attributes, 'server.address'))
    : (str(attributes, 'http.host') ??
      str(attributes, 'net.peer.name') ??
      str(attributes, 'net.peer.ip') ??
      str(attributes, 'server.address'))
  let url = fullUrl
  if (url === undefined && host !== undefined) {
    const schemeOrHttp = scheme ?? 'http'
    const port = server
      ? (str(attributes, 'net.host.port') ?? int(attributes, 'server.port'))
      : (str(attributes, 'net.peer.port') ?? int(attributes, 'network.peer.port'))
    const defaultPort =
      (schemeOrHttp === 'http' && String(port) === '80') || (schemeOrHttp === 'https' && String(port) === '443')
    url = `${schemeOrHttp}://${host}${port !== undefined && !defaultPort ? `:${port}` : ''}`
    url += target ?? `${path ?? '/'}${query ? (query.startsWith('?') ? query : `?${query}`) : ''}`
  }
  const request: NonNullable<HttpBlock['request']> = {}
  if (method !== undefined) request.method = method
  if (url !== undefined) request.url = url
  if (clientAddress !== undefined) {
    request.client_ip = clientAddress
    if (peerAddress === undefined) request.x_forwarded_for = true
  }
  if (userAgent !== undefined) request.user_agent = userAgent
  return { request, ...(status === undefined ? {} : { response: { status } }) }
}

/** The translator's makeSQL: a SQL database's spans get an sql block (the URL is the span name, as there). */
const sqlSystems = new Set([
  'db2',
  'mssql',
  'oracle',
  'derby',
  'hive',
  'mariadb',
  'mysql',
  'other_sql',
  'postgresql',
  'sqlite',
  'teradata',
])

function sqlOf(span: OtlpSpan, attributes: Attributes): Entity['sql'] {
  const system = str(attributes, 'db.system') ?? str(attributes, 'db.system.name')
  if (system === undefined || !sqlSystems.has(system)) return undefined
  const user = str(attributes, 'db.user') ?? str(attributes, 'user.name')
  const query = str(attributes, 'db.statement') ?? str(attributes, 'db.query.text')
  return {
    url: span.name,
    database_type: system,
    ...(user === undefined ? {} : { user }),
    ...(query === undefined ? {} : { sanitized_query: query }),
  }
}

const newId = () => randomBytes(8).toString('hex')

/** V8's stack lines (`    at label (path:line:column)`), as the translator reads JavaScript stack traces. */
function jsFrames(stacktrace: string): { path: string; line: number; label: string }[] {
  const frames: { path: string; line: number; label: string }[] = []
  for (const line of stacktrace.split('\n').slice(1)) {
    const match = /^ {4}at (?:(.*?) \()?(.*?):(\d+)(?::\d+)?\)?$/.exec(line)
    if (match?.[2] !== undefined && match[3] !== undefined) {
      frames.push({ path: match[2], line: Number(match[3]), label: match[1] ?? '' })
    }
  }
  return frames
}

const jsLanguages = new Set(['javascript', 'nodejs', 'webjs'])

/** The translator's makeCause: the HTTP status decides error, fault and throttle; exceptions make the cause. */
function outcomeOf(span: OtlpSpan, attributes: Attributes, resource: Attributes) {
  const outcome: Pick<Entity, 'error' | 'fault' | 'throttle' | 'cause'> = {}
  const remote = span.kind === spanKind.client || span.kind === spanKind.producer
  const javascript = jsLanguages.has(str(resource, 'telemetry.sdk.language') ?? '')
  const exceptions: CauseDocument['exceptions'] = []
  for (const event of span.events ?? []) {
    if (event.name !== 'exception') continue
    const eventAttributes = attributesOf(event.attributes)
    const stacktrace = str(eventAttributes, 'exception.stacktrace')
    const stack = stacktrace && javascript ? jsFrames(stacktrace) : []
    exceptions.push({
      id: newId(),
      type: str(eventAttributes, 'exception.type') ?? '',
      message: str(eventAttributes, 'exception.message') ?? '',
      remote,
      ...(stack.length > 0 ? { stack } : {}),
    })
  }
  const failed = span.status?.code === statusCode.error
  if (exceptions.length > 0) outcome.cause = { exceptions }
  else if (failed && span.status?.message) {
    outcome.cause = { exceptions: [{ id: newId(), type: '', message: span.status.message }] }
  }
  const status = int(attributes, 'http.status_code') ?? int(attributes, 'http.response.status_code')
  if (status !== undefined && status >= 400 && status <= 499) {
    outcome.error = true
    if (status === 429) outcome.throttle = true
  } else if (status !== undefined && status >= 500 && status <= 599) outcome.fault = true
  else if (failed) outcome.fault = true
  return outcome
}

/** Annotation keys as X-Ray indexes them (letters, digits, dots; the rest becomes `_`). */
const annotationKey = (key: string) => key.replace(/[^A-Za-z0-9.]/g, '_')

/** Attributes the entity already says in its own fields, which the translator does not repeat in metadata. */
const consumed = new Set([
  'http.request.method',
  'http.method',
  'http.response.status_code',
  'http.status_code',
  'user_agent.original',
  'http.user_agent',
  'url.full',
  'http.url',
  'url.scheme',
  'http.scheme',
  'url.path',
  'url.query',
  'http.target',
  'http.host',
  'http.server_name',
  'net.host.name',
  'net.host.port',
  'net.peer.name',
  'net.peer.port',
  'net.peer.ip',
  'network.peer.address',
  'client.address',
  'http.client_ip',
  'server.address',
  'server.port',
  'db.system',
  'db.system.name',
  'db.user',
  'db.statement',
  'db.query.text',
  'db.name',
  'db.connection_string',
  'enduser.id',
  'aws.xray.annotations',
])

function annotationsAndMetadata(attributes: Attributes, resource: Attributes | undefined) {
  const indexed = new Set(
    (attributes.get('aws.xray.annotations')?.arrayValue?.values ?? []).flatMap((v) =>
      v.stringValue === undefined ? [] : [v.stringValue],
    ),
  )
  const annotations: Record<string, string | number | boolean> = {}
  const metadata: Record<string, unknown> = {}
  for (const [key, value] of resource ?? []) metadata[`otel.resource.${key}`] = raw(value)
  for (const [key, value] of attributes) {
    if (consumed.has(key)) continue
    const plain = raw(value)
    if (indexed.has(key) && (typeof plain === 'string' || typeof plain === 'number' || typeof plain === 'boolean')) {
      annotations[annotationKey(key)] = plain
    } else {
      metadata[key] = plain
    }
  }
  return {
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    ...(Object.keys(metadata).length > 0 ? { metadata: { default: metadata } } : {}),
  }
}

/** Nanoseconds since the epoch (decimal text or a number) in the seconds X-Ray uses, to the microsecond. */
function seconds(nanos: string | number): number | undefined {
  try {
    return Number(BigInt(nanos) / 1000n) / 1_000_000
  } catch {
    return undefined
  }
}

const zeroId = /^0+$/

interface Translated {
  readonly span: OtlpSpan
  readonly entity: Entity
  readonly traceId: string
  readonly isSegment: boolean
}

function translate(span: OtlpSpan, resource: Attributes): Translated | string {
  const traceId = span.traceId.toLowerCase()
  const id = span.spanId.toLowerCase()
  if (zeroId.test(traceId) || zeroId.test(id)) return 'a trace or span id of zeroes'
  const start = seconds(span.startTimeUnixNano)
  const end = seconds(span.endTimeUnixNano)
  if (start === undefined || end === undefined || end < start) return 'an end time before the start time'
  const attributes = attributesOf(span.attributes)
  const kind = span.kind ?? spanKind.unspecified
  const parent = span.parentSpanId ? span.parentSpanId.toLowerCase() : undefined
  const flags = span.flags ?? 0
  const parentIsRemote = (flags & 0x300) === 0x300
  const local = kind === spanKind.internal || kind === spanKind.unspecified || kind === spanKind.consumer
  const isSegment = kind === spanKind.server || parent === undefined || (local && parentIsRemote)
  const entity: Entity = { id, name: segmentName(span, attributes, resource), start_time: start, end_time: end }
  let namespace: string | undefined
  if (str(attributes, 'rpc.system') === 'aws-api' || attributes.has('aws.service')) namespace = 'aws'
  else if (kind === spanKind.client) namespace = 'remote'
  if (namespace !== undefined && !isSegment) entity.namespace = namespace
  const http = httpOf(span, attributes)
  if (http) entity.http = http
  const sql = sqlOf(span, attributes)
  if (sql) entity.sql = sql
  Object.assign(entity, outcomeOf(span, attributes, resource))
  Object.assign(entity, annotationsAndMetadata(attributes, isSegment ? resource : undefined))
  const user = str(attributes, 'enduser.id')
  if (isSegment) {
    if (user) entity.user = user
    const version = str(resource, 'service.version')
    if (version) entity.service = { version }
    const eks = eksOf(resource)
    if (eks) {
      entity.origin = 'AWS::EKS::Container'
      entity.aws = { eks }
    }
  }
  if (parent !== undefined) entity.parent_id = parent
  return { span, entity, traceId: `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`, isSegment }
}

function eksOf(resource: Attributes) {
  const provider = str(resource, 'cloud.provider')
  if (provider !== undefined && provider !== 'aws') return undefined
  const cluster = str(resource, 'k8s.cluster.name')
  if (str(resource, 'cloud.platform') !== 'aws_eks' && cluster === undefined) return undefined
  const container = str(resource, 'container.id')
  return {
    cluster_name: cluster ?? '',
    pod: str(resource, 'k8s.pod.name') ?? '',
    ...(container ? { container_id: container } : {}),
  }
}

function count(entity: Entity): number {
  return 1 + (entity.subsegments ?? []).reduce((sum, child) => sum + count(child), 0)
}

/** Documents for every span of a request; spans that cannot be one are counted with the reason. */
export function documentsFromOtlp(request: ExportTraceServiceRequest): TranslatedSpans {
  const reasons = new Set<string>()
  let rejected = 0
  const translated: Translated[] = []
  for (const resourceSpans of request.resourceSpans ?? []) {
    const resource = attributesOf(resourceSpans.resource?.attributes)
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        const result = translate(span, resource)
        if (typeof result === 'string') {
          rejected++
          reasons.add(result)
        } else {
          translated.push(result)
        }
      }
    }
  }

  // A subsegment nests in its parent when the parent came in this request (and no chain of parents loops).
  const byKey = new Map(translated.map((t) => [`${t.traceId}/${t.entity.id}`, t]))
  const parentOf = (t: Translated) =>
    t.isSegment || t.entity.parent_id === undefined ? undefined : byKey.get(`${t.traceId}/${t.entity.parent_id}`)
  const nests = (t: Translated) => {
    const seen = new Set<Translated>([t])
    for (let up = parentOf(t); up !== undefined; up = parentOf(up)) {
      if (seen.has(up)) return false
      seen.add(up)
    }
    return parentOf(t) !== undefined
  }
  const documents: SegmentDocument[] = []
  for (const t of translated) {
    const parent = nests(t) ? parentOf(t) : undefined
    if (parent) {
      const { parent_id: _nested, ...child } = t.entity
      parent.entity.subsegments = [...(parent.entity.subsegments ?? []), child]
    }
  }
  for (const t of translated) {
    if (nests(t)) continue
    const document: SegmentDocument = { ...t.entity, trace_id: t.traceId }
    if (!t.isSegment) document.type = 'subsegment'
    if (isSegmentDocument(document)) documents.push(document)
    else {
      rejected += count(document)
      reasons.add('a span that is no valid segment document')
    }
  }
  return { documents, rejected, reasons: [...reasons].slice(0, 3) }
}
