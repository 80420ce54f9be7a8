// What the X-Ray daemon accepts on UDP (xray-on-bun.md 2.1): one datagram is the JSON header line
// `{"format":"json","version":1}`, a newline, then one segment document. The daemon checks only the header and
// forwards the body; the console also reads the body, so it checks the fields it relies on have the types the
// official schema gives them (services/testing/segment-document-schema-v1.0.0.json).
import { z } from 'zod'

/** What the daemon reads into one buffer: anything longer arrives truncated there, so it is refused here. */
export const maxDatagramBytes = 64 * 1024

const entityId = z.string().regex(/^[0-9a-fA-F]{16}$/)
const traceId = z.string().regex(/^1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}$/)
const epochSeconds = z.number().nonnegative()

const httpBlock = z.looseObject({
  request: z
    .looseObject({
      method: z.string().optional(),
      url: z.string().optional(),
      client_ip: z.string().optional(),
      user_agent: z.string().optional(),
      x_forwarded_for: z.boolean().optional(),
      traced: z.boolean().optional(),
    })
    .optional(),
  response: z.looseObject({ status: z.number().optional(), content_length: z.number().optional() }).optional(),
})

const exception = z.looseObject({
  id: z.string().optional(),
  message: z.string().optional(),
  type: z.string().optional(),
  remote: z.boolean().optional(),
  stack: z.array(z.looseObject({ path: z.string().optional(), line: z.number().optional() })).optional(),
})

const subsegment = z.looseObject({
  id: entityId,
  name: z.string().min(1).max(250),
  start_time: epochSeconds,
  end_time: epochSeconds.optional(),
  in_progress: z.boolean().optional(),
  namespace: z.string().optional(),
  http: httpBlock.optional(),
  sql: z.record(z.string(), z.unknown()).optional(),
  aws: z.record(z.string(), z.unknown()).optional(),
  annotations: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  error: z.boolean().optional(),
  fault: z.boolean().optional(),
  throttle: z.boolean().optional(),
  traced: z.boolean().optional(),
  cause: z
    .union([z.string(), z.looseObject({ working_directory: z.string().optional(), exceptions: z.array(exception) })])
    .optional(),
  get subsegments() {
    return z.array(subsegment).optional()
  },
})

const topLevel = subsegment.extend({
  trace_id: traceId,
  parent_id: entityId.optional(),
  type: z.literal('subsegment').optional(),
  origin: z.string().optional(),
  user: z.string().optional(),
  service: z.record(z.string(), z.unknown()).optional(),
})

/** A segment, an independent subsegment (`type: "subsegment"` with `parent_id`), or one nested in either. */
export type Entity = z.infer<typeof subsegment> & {
  readonly trace_id?: string
  readonly parent_id?: string
  readonly type?: 'subsegment'
  readonly origin?: string
}
/** A document as sent: a segment or an independent subsegment. */
export type SegmentDocument = z.infer<typeof topLevel>

export type RejectReason = 'too_large' | 'bad_header' | 'bad_json' | 'bad_document'
export const rejectReasons: readonly RejectReason[] = ['too_large', 'bad_header', 'bad_json', 'bad_document']

export type ParsedDatagram =
  | { readonly ok: true; readonly document: SegmentDocument; readonly bytes: number }
  | { readonly ok: false; readonly reason: RejectReason }

const decoder = new TextDecoder('utf-8', { fatal: false })

function isHeader(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false
  const { format, version } = value as { format?: unknown; version?: unknown }
  // The daemon compares the format case-insensitively (tracesegment.go IsValid).
  return typeof format === 'string' && format.toLowerCase() === 'json' && version === 1
}

/**
 * One datagram as the daemon reads it (split at the first newline, header checked), then the document:
 * complete (end_time) or in progress, with every field the console reads of the schema's type.
 */
export function parseDatagram(datagram: Uint8Array): ParsedDatagram {
  if (datagram.byteLength > maxDatagramBytes) return { ok: false, reason: 'too_large' }
  const text = decoder.decode(datagram)
  const newline = text.indexOf('\n')
  if (newline < 0) return { ok: false, reason: 'bad_header' }
  let header: unknown
  try {
    header = JSON.parse(text.slice(0, newline))
  } catch {
    return { ok: false, reason: 'bad_header' }
  }
  if (!isHeader(header)) return { ok: false, reason: 'bad_header' }
  let body: unknown
  try {
    body = JSON.parse(text.slice(newline + 1))
  } catch {
    return { ok: false, reason: 'bad_json' }
  }
  if (!isDocument(body)) return { ok: false, reason: 'bad_document' }
  // Validated; kept as it came (zod's copy would reorder the keys the raw view shows).
  const document = body as SegmentDocument
  if (document.type === 'subsegment' && document.parent_id === undefined) return { ok: false, reason: 'bad_document' }
  if (!isComplete(document)) return { ok: false, reason: 'bad_document' }
  return { ok: true, document, bytes: datagram.byteLength - newline - 1 }
}

function isDocument(body: unknown): boolean {
  try {
    return topLevel.safeParse(body).success
  } catch {
    // Subsegments nested deeper than the stack allows are not a document anyone sends.
    return false
  }
}

/** Every entity ends or says it is in progress; an end before the start is not a time. */
function isComplete(entity: Entity): boolean {
  if (entity.end_time === undefined ? entity.in_progress !== true : entity.end_time < entity.start_time) return false
  return (entity.subsegments ?? []).every(isComplete)
}
