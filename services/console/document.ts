// What the X-Ray daemon accepts on UDP: one datagram is the JSON header line `{"format":"json","version":1}`, a
// newline, then one segment document. The daemon checks only the header and forwards the body; the console also
// reads the body, so it checks it against the tracing layer's segment document schema (the one definition).
import { Ajv } from 'ajv'
import { z } from 'zod'
import { type Entity, maxDatagramBytes, type SegmentDocument, segmentDocumentSchema } from '../xray'

export type { Entity, SegmentDocument }

export type RejectReason = 'too_large' | 'bad_header' | 'bad_json' | 'bad_document'
export const rejectReasons: readonly RejectReason[] = ['too_large', 'bad_header', 'bad_json', 'bad_document']

export type ParsedDatagram =
  | { readonly ok: true; readonly document: SegmentDocument; readonly bytes: number }
  | { readonly ok: false; readonly reason: RejectReason }

const decoder = new TextDecoder('utf-8', { fatal: false })

/**
 * The segment document schema as one compiled function: the JSON Schema zod derives from the one definition,
 * compiled by ajv, which checks a document several times faster than zod parses one (docs/performance.md).
 */
const documentCheck = new Ajv({ allowUnionTypes: true }).compile(
  z.toJSONSchema(segmentDocumentSchema, { target: 'draft-07', io: 'input' }),
)

function isHeader(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false
  const { format, version } = value as { format?: unknown; version?: unknown }
  // The daemon compares the format case-insensitively (tracesegment.go IsValid).
  return typeof format === 'string' && format.toLowerCase() === 'json' && version === 1
}

/** Whether a parsed body is a segment document by the schema; never throws. */
export function isSegmentDocument(body: unknown): body is SegmentDocument {
  try {
    return documentCheck(body)
  } catch {
    // Subsegments nested deeper than the stack allows are not a document anyone sends.
    return false
  }
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
  if (!isSegmentDocument(body)) return { ok: false, reason: 'bad_document' }
  // Kept as it came, keys in the sender's order, for the raw view.
  const document = body
  if (document.type === 'subsegment' && document.parent_id === undefined) return { ok: false, reason: 'bad_document' }
  if (!isComplete(document)) return { ok: false, reason: 'bad_document' }
  return { ok: true, document, bytes: datagram.byteLength - newline - 1 }
}

/** Every entity ends or says it is in progress; an end before the start is not a time. */
function isComplete(entity: Entity): boolean {
  if (entity.end_time === undefined ? entity.in_progress !== true : entity.end_time < entity.start_time) return false
  return (entity.subsegments ?? []).every(isComplete)
}
