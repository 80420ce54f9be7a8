// The OTLP trace data (opentelemetry-proto, trace/v1 and collector/trace/v1), in the shape of its JSON encoding: the
// one definition our exporter builds and the console reads, whether the bytes on the wire are protobuf or JSON.
// As the OTLP/JSON mapping says: trace and span ids are lower-case hex (not base64), enums are integers, 64-bit
// integers may come as decimal strings or numbers, field names are lowerCamelCase.
import { z } from 'zod'

/** A 64-bit unsigned integer as OTLP/JSON carries it: a decimal string, or a number when it fits. */
const uint64 = z.union([z.string().regex(/^\d{1,20}$/), z.number().int().nonnegative()])
const int64 = z.union([z.string().regex(/^-?\d{1,20}$/), z.number().int()])

export type AnyValue = {
  stringValue?: string | undefined
  boolValue?: boolean | undefined
  intValue?: string | number | undefined
  doubleValue?: number | undefined
  arrayValue?: { values?: AnyValue[] | undefined } | undefined
  kvlistValue?: { values?: KeyValue[] | undefined } | undefined
  /** Base64, as proto3 JSON encodes bytes. */
  bytesValue?: string | undefined
}

export type KeyValue = { key: string; value?: AnyValue | undefined }

export const anyValueSchema: z.ZodType<AnyValue> = z.lazy(() =>
  z.object({
    stringValue: z.string().optional(),
    boolValue: z.boolean().optional(),
    intValue: int64.optional(),
    doubleValue: z.number().optional(),
    arrayValue: z.object({ values: z.array(anyValueSchema).optional() }).optional(),
    kvlistValue: z.object({ values: z.array(keyValueSchema).optional() }).optional(),
    bytesValue: z.string().optional(),
  }),
)

export const keyValueSchema: z.ZodType<KeyValue> = z.lazy(() =>
  z.object({ key: z.string(), value: anyValueSchema.optional() }),
)

const attributes = z.array(keyValueSchema).optional()
const traceId = z.string().regex(/^[0-9a-fA-F]{32}$/)
const spanId = z.string().regex(/^[0-9a-fA-F]{16}$/)

/** SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
export const spanKind = { unspecified: 0, internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const
/** Status.code: 0 unset, 1 ok, 2 error. */
export const statusCode = { unset: 0, ok: 1, error: 2 } as const

export const otlpSpanSchema = z.object({
  traceId,
  spanId,
  traceState: z.string().optional(),
  /** Empty or absent for a root span. */
  parentSpanId: z.union([spanId, z.literal('')]).optional(),
  flags: z.number().int().nonnegative().optional(),
  name: z.string(),
  kind: z.number().int().min(0).max(5).optional(),
  startTimeUnixNano: uint64,
  endTimeUnixNano: uint64,
  attributes,
  droppedAttributesCount: z.number().int().nonnegative().optional(),
  events: z
    .array(
      z.object({
        timeUnixNano: uint64,
        name: z.string(),
        attributes,
        droppedAttributesCount: z.number().int().nonnegative().optional(),
      }),
    )
    .optional(),
  droppedEventsCount: z.number().int().nonnegative().optional(),
  links: z
    .array(
      z.object({
        traceId,
        spanId,
        traceState: z.string().optional(),
        attributes,
        droppedAttributesCount: z.number().int().nonnegative().optional(),
        flags: z.number().int().nonnegative().optional(),
      }),
    )
    .optional(),
  droppedLinksCount: z.number().int().nonnegative().optional(),
  status: z.object({ message: z.string().optional(), code: z.number().int().min(0).max(2).optional() }).optional(),
})

export const exportTraceServiceRequestSchema = z.object({
  resourceSpans: z
    .array(
      z.object({
        resource: z
          .object({ attributes, droppedAttributesCount: z.number().int().nonnegative().optional() })
          .optional(),
        scopeSpans: z
          .array(
            z.object({
              scope: z
                .object({
                  name: z.string().optional(),
                  version: z.string().optional(),
                  attributes,
                  droppedAttributesCount: z.number().int().nonnegative().optional(),
                })
                .optional(),
              spans: z.array(otlpSpanSchema).optional(),
              schemaUrl: z.string().optional(),
            }),
          )
          .optional(),
        schemaUrl: z.string().optional(),
      }),
    )
    .optional(),
})

export type OtlpSpan = z.infer<typeof otlpSpanSchema>
export type ExportTraceServiceRequest = z.infer<typeof exportTraceServiceRequestSchema>
export type ResourceSpans = NonNullable<ExportTraceServiceRequest['resourceSpans']>[number]

/** ExportTracePartialSuccess: set only when the receiver rejected some spans, or has a warning. */
export const exportTraceServiceResponseSchema = z.object({
  partialSuccess: z.object({ rejectedSpans: int64.optional(), errorMessage: z.string().optional() }).optional(),
})

export type ExportTraceServiceResponse = z.infer<typeof exportTraceServiceResponseSchema>

/** google.rpc.Status, the body of every OTLP/HTTP 4xx and 5xx answer (details are neither read nor written). */
export const rpcStatusSchema = z.object({ code: z.number().int().optional(), message: z.string().optional() })

export type RpcStatus = z.infer<typeof rpcStatusSchema>
