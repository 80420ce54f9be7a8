// The local daemon's receiving end: takes datagrams as the X-Ray daemon does and keeps the documents by trace id
// and id, whatever order they arrive in, within fixed bounds so that a flood cannot grow the process.
import { parseDatagram, type RejectReason, rejectReasons, type SegmentDocument } from './document'

export interface StoredTrace {
  readonly id: string
  /** Segments and independent subsegments by id; a complete document replaces an in-progress one. */
  readonly documents: Map<string, SegmentDocument>
  /** JSON bytes of the documents kept, what the byte bound counts. */
  bytes: number
  updatedAt: number
}

export interface CollectorOptions {
  /** Traces kept; the least recently updated is dropped first. @default 1000 */
  readonly maxTraces?: number | undefined
  /** Documents kept per trace; later new ones are dropped (and counted). @default 500 */
  readonly maxDocumentsPerTrace?: number | undefined
  /** JSON bytes of documents kept in all; traces are dropped oldest first beyond it. @default 64 MiB */
  readonly maxBytes?: number | undefined
}

export interface CollectorStats {
  /** Datagrams seen, well-formed or not. */
  readonly received: number
  readonly accepted: number
  readonly rejected: Readonly<Record<RejectReason, number>>
  /** Well-formed documents not kept because their trace already holds maxDocumentsPerTrace. */
  readonly droppedTraceFull: number
  readonly traces: number
  readonly documents: number
  readonly bytes: number
  /** Traces dropped to stay within the bounds. */
  readonly evicted: number
  readonly limits: { readonly maxTraces: number; readonly maxDocumentsPerTrace: number; readonly maxBytes: number }
}

export type IngestResult =
  | { readonly ok: true; readonly traceId: string; readonly kept: boolean }
  | { readonly ok: false; readonly reason: RejectReason }

export interface Collector {
  /** One datagram: the JSON header line, then one document. Never throws. */
  ingest(datagram: Uint8Array): IngestResult
  /** A document that arrived another way (an OTLP span translated), already checked against the schema. */
  add(document: SegmentDocument, bytes: number): IngestResult
  /** Most recently updated first. */
  traces(): StoredTrace[]
  trace(id: string): StoredTrace | undefined
  stats(): CollectorStats
  clear(): void
}

export function createCollector(options: CollectorOptions = {}): Collector {
  const maxTraces = options.maxTraces ?? 1000
  const maxDocuments = options.maxDocumentsPerTrace ?? 500
  const maxBytes = Math.max(options.maxBytes ?? 64 * 1024 * 1024, 64 * 1024)
  // A Map iterates in insertion order: re-inserting on update keeps the least recently updated first.
  const traces = new Map<string, StoredTrace>()
  const rejected = Object.fromEntries(rejectReasons.map((r) => [r, 0])) as Record<RejectReason, number>
  let received = 0
  let accepted = 0
  let droppedTraceFull = 0
  let evicted = 0
  let documents = 0
  let bytes = 0
  const sizes = new WeakMap<SegmentDocument, number>()

  const drop = (trace: StoredTrace) => {
    traces.delete(trace.id)
    documents -= trace.documents.size
    bytes -= trace.bytes
    evicted++
  }

  const store = (document: SegmentDocument, documentBytes: number): IngestResult => {
    const traceId = document.trace_id
    let trace = traces.get(traceId)
    if (trace) traces.delete(traceId)
    else trace = { id: traceId, documents: new Map(), bytes: 0, updatedAt: 0 }
    trace.updatedAt = Date.now()
    traces.set(traceId, trace)

    const existing = trace.documents.get(document.id)
    // An in-progress document never replaces the complete one, whichever arrives first.
    const replaces = existing !== undefined && (existing.in_progress === true || document.in_progress !== true)
    let kept = false
    sizes.set(document, documentBytes)
    if (replaces) {
      const before = sizes.get(existing) ?? 0
      trace.documents.set(document.id, document)
      trace.bytes += documentBytes - before
      bytes += documentBytes - before
      kept = true
    } else if (existing === undefined && trace.documents.size < maxDocuments) {
      trace.documents.set(document.id, document)
      trace.bytes += documentBytes
      bytes += documentBytes
      documents++
      kept = true
    } else if (existing === undefined) {
      droppedTraceFull++
    }
    if (trace.documents.size === 0) traces.delete(traceId)
    for (const oldest of traces.values()) {
      if (traces.size <= maxTraces && bytes <= maxBytes) break
      if (oldest === trace && traces.size === 1) break
      drop(oldest)
    }
    return { ok: true, traceId, kept }
  }

  return {
    ingest(datagram) {
      received++
      const parsed = parseDatagram(datagram)
      if (!parsed.ok) {
        rejected[parsed.reason]++
        return parsed
      }
      accepted++
      return store(parsed.document, parsed.bytes)
    },
    add: (document, documentBytes) => store(document, documentBytes),
    traces: () => [...traces.values()].reverse(),
    trace: (id) => traces.get(id),
    stats: () => ({
      received,
      accepted,
      rejected: { ...rejected },
      droppedTraceFull,
      traces: traces.size,
      documents,
      bytes,
      evicted,
      limits: { maxTraces, maxDocumentsPerTrace: maxDocuments, maxBytes },
    }),
    clear() {
      traces.clear()
      documents = 0
      bytes = 0
    },
  }
}
