// Where finished traces go. The tracer hands each exporter batches of finished documents (a segment with its
// subsegments, or an independent subsegment); each exporter turns them into its own wire format.
import type { Logger } from '../platform'
import type { SegmentSink } from './emitter'
import type { EntityDocument } from './model'
import { maxDocumentBytes } from './segment-document'

export interface SpanExporter {
  /** Takes a batch of finished documents (not to be changed afterwards); never throws, never waits. */
  export(documents: readonly EntityDocument[]): void
  /** Sends what it holds (within its own deadline), then releases its resources. */
  close(): Promise<void>
}

/** Whether a serialized document fits one datagram; a UTF-16 unit is at most 3 UTF-8 bytes, so most need no count. */
function fitsDatagram(text: string): boolean {
  return text.length * 3 <= maxDocumentBytes || Buffer.byteLength(text) <= maxDocumentBytes
}

/** X-Ray segment documents, one datagram each, to the daemon (or any SegmentSink). */
export function createXrayExporter(sink: SegmentSink, log: Logger): SpanExporter {
  // A segment too big for one datagram keeps the subsegments that fit; the rest go out as independent
  // subsegment documents (type, trace_id, parent_id), which the daemon and X-Ray join back into the trace.
  const splitInto = (texts: string[], document: EntityDocument) => {
    const children = document.subsegments ?? []
    const kept: EntityDocument[] = []
    const overflow: EntityDocument[] = []
    let size = Buffer.byteLength(JSON.stringify({ ...document, subsegments: [] }))
    for (const child of children) {
      const childSize = Buffer.byteLength(JSON.stringify(child)) + 1
      if (overflow.length === 0 && size + childSize <= maxDocumentBytes) {
        kept.push(child)
        size += childSize
      } else {
        overflow.push(child)
      }
    }
    const head: EntityDocument = { ...document }
    if (kept.length > 0) head.subsegments = kept
    else delete head.subsegments
    texts.push(JSON.stringify(head))
    for (const child of overflow) {
      const independent = JSON.stringify({
        ...child,
        type: 'subsegment',
        trace_id: document.trace_id,
        parent_id: document.id,
      })
      if (fitsDatagram(independent)) texts.push(independent)
      else log.warn('dropping a subsegment larger than a datagram', { bytes: Buffer.byteLength(independent) })
    }
  }
  return {
    export(documents) {
      const texts: string[] = []
      for (const document of documents) {
        const text = JSON.stringify(document)
        if (fitsDatagram(text)) texts.push(text)
        else splitInto(texts, document)
      }
      sink.send(texts)
    },
    close: () => sink.close(),
  }
}

/** Several exporters as one (OTEL_TRACES_EXPORTER=xray,otlp). */
export function combineExporters(exporters: readonly SpanExporter[]): SpanExporter {
  if (exporters.length === 1 && exporters[0]) return exporters[0]
  return {
    export(documents) {
      for (const exporter of exporters) exporter.export(documents)
    },
    async close() {
      await Promise.all(exporters.map((exporter) => exporter.close()))
    },
  }
}
