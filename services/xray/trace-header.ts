/** The parts of an X-Amzn-Trace-Id header we act on. `Self` and `Lineage` are ignored, as the SDKs do. */
export interface TraceHeader {
  readonly root: string
  readonly parent: string | undefined
  /** '1' sample, '0' do not, '?' the caller asks us to decide and tell it; undefined: we decide. */
  readonly sampled: '1' | '0' | '?' | undefined
}

const rootPattern = /^1-[0-9a-f]{8}-[0-9a-f]{24}$/
const idPattern = /^[0-9a-f]{16}$/

/**
 * Parses and validates an incoming header. Anything malformed about Root gives undefined (start a new
 * trace); a malformed Parent or Sampled is dropped on its own, keeping the Root (the ALB sends Root and Self only).
 */
export function parseTraceHeader(value: string | null | undefined): TraceHeader | undefined {
  if (!value || value.length > 1024) return undefined
  let root: string | undefined
  let parent: string | undefined
  let sampled: TraceHeader['sampled']
  for (const part of value.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    const key = part.slice(0, eq).trim().toLowerCase()
    const raw = part.slice(eq + 1).trim()
    if (key === 'root') root = raw.toLowerCase()
    else if (key === 'parent') parent = idPattern.test(raw.toLowerCase()) ? raw.toLowerCase() : undefined
    else if (key === 'sampled') sampled = raw === '1' || raw === '0' || raw === '?' ? raw : undefined
  }
  if (root === undefined || !rootPattern.test(root)) return undefined
  return { root, parent, sampled }
}

export function formatTraceHeader(root: string, parent: string | undefined, sampled: boolean): string {
  return `Root=${root}${parent ? `;Parent=${parent}` : ''};Sampled=${sampled ? '1' : '0'}`
}

export function isTraceId(value: string): boolean {
  return rootPattern.test(value)
}

/** A W3C `traceparent` header's parts (version 00, and any later version read as 00 as the spec asks). */
export interface TraceParent {
  /** 32 lower-case hex digits. */
  readonly traceId: string
  /** 16 lower-case hex digits: the caller's span. */
  readonly parentId: string
  readonly sampled: boolean
}

const traceParentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

/** Parses `traceparent`; anything invalid (version ff, all-zero ids, a 00 header with extra fields) is undefined. */
export function parseTraceParent(value: string | null | undefined): TraceParent | undefined {
  if (!value || value.length > 512) return undefined
  const match = traceParentPattern.exec(value.trim())
  if (!match) return undefined
  const [, version = '', traceId = '', parentId = '', flags = '', rest] = match
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined
  return { traceId, parentId, sampled: (Number.parseInt(flags, 16) & 1) === 1 }
}

export function formatTraceParent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`
}

/** An X-Ray trace id (`1-5f2b3c4d-<24 hex>`) as a W3C/OTLP one (32 hex): the same id, without `1-` and the dash. */
export function toW3cTraceId(xrayTraceId: string): string {
  return xrayTraceId.slice(2, 10) + xrayTraceId.slice(11)
}

/** A W3C/OTLP trace id as an X-Ray one; ours begin with their start time, others with 8 random digits. */
export function toXrayTraceId(w3cTraceId: string): string {
  return `1-${w3cTraceId.slice(0, 8)}-${w3cTraceId.slice(8)}`
}
