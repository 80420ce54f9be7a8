// OTLP/HTTP bodies in both encodings: binary protobuf (protobufjs, with the opentelemetry-proto messages in
// ./proto as its schema, parsed once and carried in the binary) and JSON, both to and from the one model in
// otlp-model.ts. The only importer of protobufjs.
import type * as Protobuf from 'protobufjs'
import { describeIssue, messageOf } from '../platform'
import {
  type ExportTraceServiceRequest,
  type ExportTraceServiceResponse,
  exportTraceServiceRequestSchema,
  exportTraceServiceResponseSchema,
  type OtlpSpan,
  type RpcStatus,
  rpcStatusSchema,
} from './otlp-model'
import common from './proto/common.proto' with { type: 'text' }
import resource from './proto/resource.proto' with { type: 'text' }
import status from './proto/status.proto' with { type: 'text' }
import trace from './proto/trace.proto' with { type: 'text' }
import traceService from './proto/trace_service.proto' with { type: 'text' }

/** The two OTLP/HTTP encodings, by their Content-Type. */
export type OtlpEncoding = 'protobuf' | 'json'

export const otlpContentTypes: Readonly<Record<OtlpEncoding, string>> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
}

interface Messages {
  readonly request: Protobuf.Type
  readonly response: Protobuf.Type
  readonly status: Protobuf.Type
}

let messages: Messages | undefined

/** Parsed on first use rather than at import, so that nothing runs before the command asks for it. */
function schema(): Messages {
  if (messages) return messages
  // Required here, not imported: evaluating protobufjs is a few milliseconds of every start otherwise, and only a
  // process that exports or receives OTLP ever needs it.
  const protobuf = require('protobufjs') as typeof Protobuf
  const root = new protobuf.Root()
  for (const source of [common, resource, trace, traceService, status]) protobuf.parse(String(source), root)
  root.resolveAll()
  messages = {
    request: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    response: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    status: root.lookupType('google.rpc.Status'),
  }
  return messages
}

const hexBytes = (hex: string) => Buffer.from(hex, 'hex')
const base64ToHex = (base64: string) => Buffer.from(base64, 'base64').toString('hex')

/** The model's ids are hex (as OTLP/JSON has them); protobuf carries them as bytes. */
function wireSpan(span: OtlpSpan) {
  return {
    ...span,
    traceId: hexBytes(span.traceId),
    spanId: hexBytes(span.spanId),
    parentSpanId: span.parentSpanId ? hexBytes(span.parentSpanId) : undefined,
    links: span.links?.map((link) => ({ ...link, traceId: hexBytes(link.traceId), spanId: hexBytes(link.spanId) })),
  }
}

function wireRequest(request: ExportTraceServiceRequest) {
  return {
    resourceSpans: request.resourceSpans?.map((resourceSpans) => ({
      ...resourceSpans,
      scopeSpans: resourceSpans.scopeSpans?.map((scopeSpans) => ({
        ...scopeSpans,
        spans: scopeSpans.spans?.map(wireSpan),
      })),
    })),
  }
}

/** A message as the bytes of either encoding; the protobuf schema is parsed only when protobuf is asked for. */
function encodeMessage(message: keyof Messages, value: object, encoding: OtlpEncoding): Uint8Array {
  if (encoding === 'json') return Buffer.from(JSON.stringify(value))
  return schema()[message].encode(value).finish()
}

const toObjectOptions: Protobuf.IConversionOptions = { longs: String, bytes: String, enums: Number }

/** A message's bytes as a plain object, unchecked (protobuf ids still base64); throws on bytes that are none. */
function decodeMessage(message: keyof Messages, body: Uint8Array, encoding: OtlpEncoding): unknown {
  if (encoding === 'json') {
    return JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'))
  }
  const type = schema()[message]
  return type.toObject(type.decode(body), toObjectOptions)
}

/** The request as the bytes of either encoding. */
export function encodeTraceRequest(request: ExportTraceServiceRequest, encoding: OtlpEncoding): Uint8Array {
  return encodeMessage('request', encoding === 'json' ? request : wireRequest(request), encoding)
}

type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string }

/** Walks a decoded protobuf request (ids in base64) and puts the ids in hex. */
function idsToHex(decoded: Record<string, unknown>): unknown {
  const request = decoded as {
    resourceSpans?: {
      scopeSpans?: {
        spans?: (Record<string, unknown> & { links?: Record<string, unknown>[] })[]
      }[]
    }[]
  }
  for (const resourceSpans of request.resourceSpans ?? []) {
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        for (const key of ['traceId', 'spanId', 'parentSpanId']) {
          if (typeof span[key] === 'string') span[key] = base64ToHex(span[key])
        }
        for (const link of span.links ?? []) {
          for (const key of ['traceId', 'spanId']) {
            if (typeof link[key] === 'string') link[key] = base64ToHex(link[key])
          }
        }
      }
    }
  }
  return request
}

/**
 * A request body in either encoding, checked against the model (ids of the right length, times that are
 * numbers). Never throws: bytes that are no request give the reason.
 */
export function decodeTraceRequest(body: Uint8Array, encoding: OtlpEncoding): Decoded<ExportTraceServiceRequest> {
  let raw: unknown
  try {
    raw = decodeMessage('request', body, encoding)
    if (encoding === 'protobuf') raw = idsToHex(raw as Record<string, unknown>)
  } catch (error) {
    return { ok: false, problem: `not an ExportTraceServiceRequest in ${encoding}: ${messageOf(error)}` }
  }
  try {
    const parsed = exportTraceServiceRequestSchema.safeParse(raw)
    if (parsed.success) return { ok: true, value: parsed.data }
    return { ok: false, problem: describeIssue(parsed.error.issues[0], 'request') }
  } catch (error) {
    // Values nested deeper than the stack allows are no telemetry anyone sends.
    return { ok: false, problem: `not an ExportTraceServiceRequest: ${messageOf(error)}` }
  }
}

/** The answer to an export: empty on full success, partialSuccess when spans were rejected. */
export function encodeTraceResponse(response: ExportTraceServiceResponse, encoding: OtlpEncoding): Uint8Array {
  return encodeMessage('response', response, encoding)
}

export function decodeTraceResponse(body: Uint8Array, encoding: OtlpEncoding): Decoded<ExportTraceServiceResponse> {
  try {
    const parsed = exportTraceServiceResponseSchema.safeParse(decodeMessage('response', body, encoding))
    return parsed.success
      ? { ok: true, value: parsed.data }
      : { ok: false, problem: 'not an ExportTraceServiceResponse' }
  } catch (error) {
    return { ok: false, problem: `not an ExportTraceServiceResponse in ${encoding}: ${messageOf(error)}` }
  }
}

/** google.rpc.Status, for a 4xx or 5xx answer. */
export function encodeStatus(value: RpcStatus, encoding: OtlpEncoding): Uint8Array {
  return encodeMessage('status', value, encoding)
}

export function decodeStatus(body: Uint8Array, encoding: OtlpEncoding): RpcStatus | undefined {
  try {
    const parsed = rpcStatusSchema.safeParse(decodeMessage('status', body, encoding))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}
