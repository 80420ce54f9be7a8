// The official OpenTelemetry JS packages as test oracles (never at run time): the protobufjs code the project
// generated from the published opentelemetry-proto messages decodes what we send, and the official serializers
// encode the same spans for us to compare with. Pinned to the 0.216 / 2.7 line: the last otlp-transformer that
// ships that generated decoder, and a line that runs on Node 20.
import { createRequire } from 'node:module'
import type { Attributes, HrTime, Link, SpanContext } from '@opentelemetry/api'
import type * as Transformer from '@opentelemetry/otlp-transformer'
import type * as Resources from '@opentelemetry/resources'
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base'
import type { AnyValue, ExportTraceServiceRequest, KeyValue } from '../xray'

interface GeneratedMessage {
  decode(bytes: Uint8Array): unknown
  toObject(message: unknown, options: Record<string, unknown>): Record<string, unknown>
}

interface Official {
  readonly request: GeneratedMessage
  readonly transformer: typeof Transformer
  readonly resources: typeof Resources
}

let official: Official | undefined

/** Loaded on first use: every test imports this folder, few need the official packages. */
function load(): Official {
  if (official) return official
  const require = createRequire(import.meta.url)
  const generated = require('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
    opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: GeneratedMessage } } } } }
  }
  official = {
    request: generated.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest,
    transformer: require('@opentelemetry/otlp-transformer') as typeof Transformer,
    resources: require('@opentelemetry/resources') as typeof Resources,
  }
  return official
}

const base64ToHex = (value: unknown) =>
  typeof value === 'string' ? Buffer.from(value, 'base64').toString('hex') : value

/** Protobuf bytes as the official definitions read them, in the JSON shape (ids hex, 64-bit integers strings). */
export function officialDecode(bytes: Uint8Array): unknown {
  const { request } = load()
  const decoded = request.toObject(request.decode(bytes), {
    longs: String,
    bytes: String,
    enums: Number,
  }) as { resourceSpans?: { scopeSpans?: { spans?: Record<string, unknown>[] }[] }[] }
  for (const resourceSpans of decoded.resourceSpans ?? []) {
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        for (const key of ['traceId', 'spanId', 'parentSpanId']) span[key] = base64ToHex(span[key])
        for (const link of (span['links'] ?? []) as Record<string, unknown>[]) {
          link['traceId'] = base64ToHex(link['traceId'])
          link['spanId'] = base64ToHex(link['spanId'])
        }
      }
    }
  }
  return decoded
}

type AttributeValue = NonNullable<Attributes[string]>

function attributeValue(value: AnyValue | undefined): AttributeValue {
  if (value?.stringValue !== undefined) return value.stringValue
  if (value?.boolValue !== undefined) return value.boolValue
  if (value?.intValue !== undefined) return Number(value.intValue)
  if (value?.doubleValue !== undefined) return value.doubleValue
  if (value?.arrayValue !== undefined) {
    return (value.arrayValue.values ?? []).map((item) => String(attributeValue(item))) as string[]
  }
  throw new Error(`the official SDK has no attribute for ${JSON.stringify(value)}`)
}

function attributes(list: readonly KeyValue[] | undefined): Attributes {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, attributeValue(value)]))
}

function hrTime(nanos: string | number): HrTime {
  const value = BigInt(nanos)
  return [Number(value / 1_000_000_000n), Number(value % 1_000_000_000n)]
}

/** The spans of a request as the official SDK hands them to its exporters. */
export function readableSpans(request: ExportTraceServiceRequest): ReadableSpan[] {
  const spans: ReadableSpan[] = []
  for (const resourceSpans of request.resourceSpans ?? []) {
    const resource = load().resources.resourceFromAttributes(attributes(resourceSpans.resource?.attributes))
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      const instrumentationScope = { name: scopeSpans.scope?.name ?? '', version: scopeSpans.scope?.version }
      for (const span of scopeSpans.spans ?? []) {
        const flags = span.flags ?? 0
        const context: SpanContext = { traceId: span.traceId, spanId: span.spanId, traceFlags: flags & 0xff }
        const parentSpanContext: SpanContext | undefined = span.parentSpanId
          ? { traceId: span.traceId, spanId: span.parentSpanId, traceFlags: 1, isRemote: (flags & 0x200) !== 0 }
          : undefined
        const events: TimedEvent[] = (span.events ?? []).map((event) => ({
          name: event.name,
          time: hrTime(event.timeUnixNano),
          attributes: attributes(event.attributes),
        }))
        const links: Link[] = (span.links ?? []).map((link) => ({
          context: { traceId: link.traceId, spanId: link.spanId, traceFlags: (link.flags ?? 0) & 0xff },
          attributes: attributes(link.attributes),
        }))
        const startTime = hrTime(span.startTimeUnixNano)
        const endTime = hrTime(span.endTimeUnixNano)
        spans.push({
          name: span.name,
          kind: (span.kind ?? 1) - 1,
          spanContext: () => context,
          parentSpanContext,
          startTime,
          endTime,
          status: { code: span.status?.code ?? 0, ...(span.status?.message ? { message: span.status.message } : {}) },
          attributes: attributes(span.attributes),
          links,
          events,
          duration: [endTime[0] - startTime[0], endTime[1] - startTime[1]],
          ended: true,
          resource,
          instrumentationScope,
          droppedAttributesCount: span.droppedAttributesCount ?? 0,
          droppedEventsCount: span.droppedEventsCount ?? 0,
          droppedLinksCount: span.droppedLinksCount ?? 0,
        })
      }
    }
  }
  return spans
}

/** What the official JSON serializer writes for the request's spans, parsed. */
export function officialJson(request: ExportTraceServiceRequest): unknown {
  const bytes = load().transformer.JsonTraceSerializer.serializeRequest(readableSpans(request))
  if (!bytes) throw new Error('the official JSON serializer gave nothing')
  return JSON.parse(Buffer.from(bytes).toString('utf8'))
}

/** What the official protobuf serializer writes for the request's spans. */
export function officialProtobuf(request: ExportTraceServiceRequest): Uint8Array {
  const bytes = load().transformer.ProtobufTraceSerializer.serializeRequest(readableSpans(request))
  if (!bytes) throw new Error('the official protobuf serializer gave nothing')
  return bytes
}

const defaultsDropped = new Set([
  'droppedAttributesCount',
  'droppedEventsCount',
  'droppedLinksCount',
  'traceState',
  'parentSpanId',
  'schemaUrl',
])

/**
 * One form for two encodings of the same data: proto3 leaves default values out, the official serializers write
 * them; 64-bit integers may be numbers or strings; ids are case-insensitive hex.
 */
export function normalizeOtlp(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((item) => normalizeOtlp(item))
  if (value === null || typeof value !== 'object') {
    if (['intValue', 'startTimeUnixNano', 'endTimeUnixNano', 'timeUnixNano'].includes(key)) return String(value)
    if (['traceId', 'spanId', 'parentSpanId'].includes(key) && typeof value === 'string') return value.toLowerCase()
    return value
  }
  const out: Record<string, unknown> = {}
  for (const [field, item] of Object.entries(value)) {
    if (item === undefined || item === null) continue
    if (defaultsDropped.has(field) && (item === 0 || item === '')) continue
    if ((field === 'links' || field === 'events' || field === 'attributes') && Array.isArray(item) && !item.length)
      continue
    if (
      field === 'status' &&
      typeof item === 'object' &&
      Object.keys(item).every((k) => k === 'code' || k === 'message')
    ) {
      const status = item as { code?: number; message?: string }
      if (!status.code && !status.message) continue
    }
    out[field] = normalizeOtlp(item, field)
  }
  return out
}
