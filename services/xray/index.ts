export { detectEks, type EksDetectionOptions, type EksMetadata } from './eks'
export { createUdpEmitter, type EmitterStats, type SegmentSink } from './emitter'
export { type ExporterContext, exporterFromConfig } from './export-config'
export { combineExporters, createXrayExporter, type SpanExporter } from './exporter'
export type { EntityDocument } from './model'
export {
  type OtlpResourceOptions,
  type OtlpScope,
  otlpResource,
  otlpResourceSource,
  otlpTraceId,
  spanCount,
  toOtlpRequest,
} from './otlp-convert'
export {
  createOtlpExporter,
  maxRequestBytes,
  type OtlpExporter,
  type OtlpExporterOptions,
  type OtlpExporterStats,
  retryAfterMs,
} from './otlp-exporter'
export {
  type AnyValue,
  anyValueSchema,
  type ExportTraceServiceRequest,
  type ExportTraceServiceResponse,
  exportTraceServiceRequestSchema,
  exportTraceServiceResponseSchema,
  type KeyValue,
  keyValueSchema,
  type OtlpSpan,
  otlpSpanSchema,
  type ResourceSpans,
  type RpcStatus,
  rpcStatusSchema,
  spanKind,
  statusCode,
} from './otlp-model'
export {
  decodeStatus,
  decodeTraceRequest,
  decodeTraceResponse,
  encodeStatus,
  encodeTraceRequest,
  encodeTraceResponse,
  type OtlpEncoding,
  otlpContentTypes,
} from './otlp-wire'
export type { SamplingRules } from './sdk'
export {
  type CauseDocument,
  datagramHeader,
  type Entity,
  type ExceptionDocument,
  maxDatagramBytes,
  maxDocumentBytes,
  type SegmentDocument,
  type Subsegment,
  segmentDocumentSchema,
  subsegmentSchema,
} from './segment-document'
export { formatTraceHeader, parseTraceHeader, type TraceHeader } from './trace-header'
export {
  createDisabledTracer,
  createTracer,
  defaultSamplingRules,
  loadSamplingRules,
  type Span,
  type SqlInfo,
  type SubsegmentKind,
  type Tracer,
  type TracerOptions,
  TracingConfigError,
  traceEverything,
  tracerFromConfig,
} from './tracer'
