export { consoleCommand } from './cli'
export {
  type Collector,
  type CollectorOptions,
  type CollectorStats,
  createCollector,
  type StoredTrace,
} from './collector'
export { type ConsoleOptions, type RunningConsole, startConsole, type TraceFilter } from './console'
export { type Entity, parseDatagram, type RejectReason, type SegmentDocument } from './document'
export { buildServiceGraph, type GraphEdge, type GraphNode, type ServiceGraph, type Stats } from './graph'
export { type MailSink, type MailSinkOptions, type ReceivedMail, startMailSink } from './mail-sink'
export { documentsFromOtlp, type TranslatedSpans } from './otlp-documents'
export {
  createOtlpReceiver,
  defaultMaxOtlpBodyBytes,
  type OtlpReceiver,
  type OtlpReceiverOptions,
  type OtlpReceiverStats,
  type OtlpRefusal,
} from './otlp-receiver'
export { createSamplingService, type SamplingService } from './sampling'
export { type AssembledTrace, assembleTrace, type TimelineSpan, type TraceSummary } from './trace'
