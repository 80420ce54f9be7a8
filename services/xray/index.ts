export { detectEks, type EksDetectionOptions, type EksMetadata } from './eks'
export { createUdpEmitter, type EmitterStats, maxDatagramBytes, type SegmentSink } from './emitter'
export type { SamplingRules } from './sdk'
export { formatTraceHeader, parseTraceHeader, type TraceHeader } from './trace-header'
export {
  createDisabledTracer,
  createTracer,
  defaultSamplingRules,
  type FetchLike,
  loadSamplingRules,
  type Span,
  type SqlInfo,
  type SubsegmentKind,
  type Tracer,
  type TracerOptions,
  TracingConfigError,
  tracerFromConfig,
} from './tracer'
