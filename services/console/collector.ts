// The local daemon's receiving end: parses datagrams as the X-Ray daemon does, and joins documents into
// traces by trace id and id, whatever order they arrive in.

export interface Entity {
  readonly id: string
  readonly name: string
  readonly start_time: number
  readonly end_time?: number
  readonly in_progress?: boolean
  readonly trace_id?: string
  readonly parent_id?: string
  readonly type?: string
  readonly origin?: string
  readonly namespace?: string
  readonly http?: { request?: Record<string, unknown>; response?: { status?: number; content_length?: number } }
  readonly sql?: Record<string, unknown>
  readonly error?: boolean
  readonly fault?: boolean
  readonly throttle?: boolean
  readonly traced?: boolean
  readonly subsegments?: Entity[]
  readonly [key: string]: unknown
}

export interface StoredTrace {
  readonly id: string
  /** Documents by id: segments and independent subsegments; a complete one replaces an in-progress one. */
  readonly documents: Map<string, Entity>
  updatedAt: number
}

export type RejectReason = 'too_large' | 'bad_header' | 'bad_json' | 'bad_document'

export interface CollectorOptions {
  /** Traces kept; the least recently updated is dropped first. @default 1000 */
  readonly maxTraces?: number
  /** Documents kept per trace. @default 500 */
  readonly maxDocumentsPerTrace?: number
}

const maxDatagram = 64 * 1024
const hex16 = /^[0-9a-f]{16}$/
const traceIdPattern = /^1-[0-9a-f]{8}-[0-9a-f]{24}$/

function isEntity(value: unknown, top: boolean): value is Entity {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const e = value as Record<string, unknown>
  if (typeof e['id'] !== 'string' || !hex16.test(e['id'])) return false
  if (typeof e['name'] !== 'string' || e['name'].length === 0 || e['name'].length > 250) return false
  if (typeof e['start_time'] !== 'number') return false
  if (e['end_time'] !== undefined && typeof e['end_time'] !== 'number') return false
  if (e['end_time'] === undefined && e['in_progress'] !== true) return false
  if (top && (typeof e['trace_id'] !== 'string' || !traceIdPattern.test(e['trace_id']))) return false
  if (e['parent_id'] !== undefined && (typeof e['parent_id'] !== 'string' || !hex16.test(e['parent_id']))) return false
  if (top && e['type'] === 'subsegment' && e['parent_id'] === undefined) return false
  const subs = e['subsegments']
  if (subs !== undefined && (!Array.isArray(subs) || !subs.every((s) => isEntity(s, false)))) return false
  return true
}

export function createCollector(options: CollectorOptions = {}) {
  const maxTraces = options.maxTraces ?? 1000
  const maxDocuments = options.maxDocumentsPerTrace ?? 500
  // A Map iterates in insertion order: re-inserting on update keeps the least recently updated first.
  const traces = new Map<string, StoredTrace>()
  const rejected: Record<RejectReason, number> = { too_large: 0, bad_header: 0, bad_json: 0, bad_document: 0 }
  let accepted = 0
  let evicted = 0

  return {
    /** One datagram: the JSON header line, then one document. */
    ingest(datagram: Uint8Array): { ok: true; traceId: string } | { ok: false; reason: RejectReason } {
      const reject = (reason: RejectReason) => {
        rejected[reason]++
        return { ok: false as const, reason }
      }
      if (datagram.byteLength > maxDatagram) return reject('too_large')
      const text = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength).toString('utf8')
      const newline = text.indexOf('\n')
      if (newline < 0) return reject('bad_header')
      let header: unknown
      let document: unknown
      try {
        header = JSON.parse(text.slice(0, newline))
      } catch {
        return reject('bad_header')
      }
      const h = header as { format?: unknown; version?: unknown } | null
      if (!h || typeof h.format !== 'string' || h.format.toLowerCase() !== 'json' || h.version !== 1)
        return reject('bad_header')
      try {
        document = JSON.parse(text.slice(newline + 1))
      } catch {
        return reject('bad_json')
      }
      if (!isEntity(document, true)) return reject('bad_document')
      const traceId = document.trace_id as string
      let trace = traces.get(traceId)
      if (trace) traces.delete(traceId)
      else trace = { id: traceId, documents: new Map(), updatedAt: 0 }
      const existing = trace.documents.get(document.id)
      if (!existing || existing.in_progress || !document.in_progress) {
        if (existing || trace.documents.size < maxDocuments) trace.documents.set(document.id, document)
      }
      trace.updatedAt = Date.now()
      traces.set(traceId, trace)
      while (traces.size > maxTraces) {
        const oldest = traces.keys().next()
        if (oldest.done) break
        traces.delete(oldest.value)
        evicted++
      }
      accepted++
      return { ok: true, traceId }
    },
    traces: () => [...traces.values()].reverse(),
    trace: (id: string) => traces.get(id),
    stats: () => ({ accepted, rejected: { ...rejected }, traces: traces.size, evicted }),
    clear() {
      traces.clear()
    },
  }
}

export type Collector = ReturnType<typeof createCollector>
