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
