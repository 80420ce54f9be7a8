// The X-Ray segment document and the datagram that carries it: the one definition the tracer builds, the emitter
// sends and the console reads. Field names and types follow AWS's published schema (segment-document-schema
// v1.0.0), which the tests keep as an independent check of what we send.
import { z } from 'zod'

/** The JSON header line every datagram starts with; the daemon checks it and forwards the rest. */
export const datagramHeader = '{"format":"json","version":1}\n'

/**
 * The largest UDP payload over IPv4 (65,535 less the IP and UDP headers). The daemon reads each datagram into a
 * 64 KiB buffer, so this is also the most it can receive whole.
 */
export const maxDatagramBytes = 65_507

/** What one document may take of a datagram, after the header: a bigger one is split (see tracer.ts). */
export const maxDocumentBytes = maxDatagramBytes - Buffer.byteLength(datagramHeader)

const entityId = z.string().regex(/^[0-9a-fA-F]{16}$/)
const traceId = z.string().regex(/^1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}$/)
const epochSeconds = z.number().nonnegative()

const httpBlock = z.object({
  request: z
    .object({
      method: z.string().optional(),
      url: z.string().optional(),
      client_ip: z.string().optional(),
      user_agent: z.string().optional(),
      x_forwarded_for: z.boolean().optional(),
      traced: z.boolean().optional(),
    })
    .optional(),
  response: z.object({ status: z.number().int().optional(), content_length: z.number().optional() }).optional(),
})

const sqlBlock = z.object({
  url: z.string().optional(),
  preparation: z.string().optional(),
  database_type: z.string().optional(),
  database_version: z.string().optional(),
  driver_version: z.string().optional(),
  user: z.string().optional(),
  sanitized_query: z.string().optional(),
})

const stackFrame = z.object({
  path: z.string().optional(),
  line: z.number().int().optional(),
  label: z.string().optional(),
})

const exception = z.object({
  id: entityId,
  message: z.string().optional(),
  type: z.string().optional(),
  remote: z.boolean().optional(),
  truncated: z.number().int().optional(),
  skipped: z.number().int().optional(),
  cause: z.string().optional(),
  stack: z.array(stackFrame).optional(),
})

const cause = z.union([
  z.string(),
  z.object({
    working_directory: z.string().optional(),
    paths: z.array(z.string()).optional(),
    exceptions: z.array(exception),
  }),
])

const annotationValue = z.union([z.string(), z.number(), z.boolean()])

/** What segments and subsegments share. */
const entityFields = {
  id: entityId,
  name: z.string().min(1).max(250),
  start_time: epochSeconds,
  end_time: epochSeconds.optional(),
  in_progress: z.boolean().optional(),
  namespace: z.string().optional(),
  http: httpBlock.optional(),
  sql: sqlBlock.optional(),
  aws: z.record(z.string(), z.unknown()).optional(),
  annotations: z.record(z.string(), annotationValue).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  error: z.boolean().optional(),
  throttle: z.boolean().optional(),
  fault: z.boolean().optional(),
  cause: cause.optional(),
  traced: z.boolean().optional(),
  precursor_ids: z.array(entityId).optional(),
}

const subsegmentFields = z.object(entityFields)

/** A subsegment nested in a segment (or in another subsegment). */
export type Subsegment = z.infer<typeof subsegmentFields> & { subsegments?: Subsegment[] | undefined }

export const subsegmentSchema: z.ZodType<Subsegment> = subsegmentFields.extend({
  subsegments: z.array(z.lazy(() => subsegmentSchema)).optional(),
})

/** A document as sent: a segment, or an independent subsegment (`type: "subsegment"` with `parent_id`). */
export const segmentDocumentSchema = subsegmentFields.extend({
  subsegments: z.array(subsegmentSchema).optional(),
  trace_id: traceId,
  parent_id: entityId.optional(),
  type: z.literal('subsegment').optional(),
  origin: z.string().optional(),
  user: z.string().max(250).optional(),
  resource_arn: z.string().optional(),
  service: z.record(z.string(), z.unknown()).optional(),
})

export type SegmentDocument = z.infer<typeof segmentDocumentSchema>
/** Any entity in a document: the document itself, or a subsegment at any depth. */
export type Entity = Subsegment & Partial<Omit<SegmentDocument, keyof Subsegment>>
export type CauseDocument = Exclude<NonNullable<Subsegment['cause']>, string>
export type ExceptionDocument = z.infer<typeof exception>
