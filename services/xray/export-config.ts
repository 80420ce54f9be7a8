// The exporters OTEL_TRACES_EXPORTER names, built from a role's configuration: X-Ray segments over UDP to the
// daemon, OTLP/HTTP to a collector, both, or none.
import { defaultOtlpConfig, type Logger, type XrayConfig } from '../platform'
import type { EksMetadata } from './eks'
import { createUdpEmitter } from './emitter'
import { combineExporters, createXrayExporter, type SpanExporter } from './exporter'
import { otlpResourceSource } from './otlp-convert'
import { createOtlpExporter } from './otlp-exporter'

export interface ExporterContext {
  readonly log: Logger
  /** service.version, and the OTLP scope's version. */
  readonly version: string
  /** On EKS: the resource's cloud.* and k8s.* attributes once known. */
  readonly eks?: Promise<EksMetadata | undefined> | EksMetadata | undefined
}

/** One exporter for all that the configuration names; `none` gives one that discards. */
export function exporterFromConfig(config: XrayConfig, context: ExporterContext): SpanExporter {
  const { log, version } = context
  const exporters = (config.exporters ?? ['xray']).map((name): SpanExporter => {
    switch (name) {
      case 'xray':
        return createXrayExporter(createUdpEmitter({ address: config.daemonUdp, log }), log)
      case 'otlp': {
        const otlp = config.otlp ?? defaultOtlpConfig
        log.info('exporting spans over OTLP/HTTP', {
          endpoint: URL.parse(otlp.endpoint)?.origin,
          protocol: otlp.protocol,
          serviceName: config.tracingName,
        })
        return createOtlpExporter({
          config: otlp,
          resource: otlpResourceSource({
            serviceName: config.tracingName,
            version,
            attributes: config.resourceAttributes,
            eks: context.eks,
          }),
          version,
          log: log.child({ exporter: 'otlp' }),
        })
      }
      default:
        return name satisfies never
    }
  })
  return combineExporters(exporters)
}
