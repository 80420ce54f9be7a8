// How X-Ray draws its service map (xray-on-bun.md section 6): a node per service (segment name and origin), an
// edge from the caller's subsegment to the segment whose parent_id it is (with that subsegment's statistics),
// inferred nodes for remote calls nobody else reports, and a client node in front of every root segment.
import type { StoredTrace } from './collector'
import { type AssembledTrace, assembleTrace, outcome, type TimelineSpan } from './trace'

export interface Stats {
  readonly requests: number
  /** Neither an error nor a fault. */
  readonly ok: number
  /** 4xx, throttles included (the X-Ray console's ErrorStatistics.TotalCount). */
  readonly errors: number
  /** 429s. */
  readonly throttles: number
  /** 5xx. */
  readonly faults: number
  readonly errorRate: number
  readonly throttleRate: number
  readonly faultRate: number
  readonly averageMs: number
  /** Nearest rank: the smallest latency at least 95% of the requests were as fast as. */
  readonly p95Ms: number
}

export type NodeType = 'client' | 'service' | 'database' | 'mail' | 'remote' | 'aws'

export interface GraphNode extends Stats {
  /** Unique in the graph: the name, or `name (origin or type)` when two nodes share a name. */
  readonly id: string
  readonly name: string
  /** client; service (sends its own segments); database, mail, remote or aws: inferred from subsegments. */
  readonly type: NodeType
  readonly origin?: string
}

export interface GraphEdge extends Stats {
  /** Node ids. */
  readonly source: string
  readonly target: string
}

export interface ServiceGraph {
  readonly nodes: GraphNode[]
  readonly edges: GraphEdge[]
}

interface Sample {
  readonly ms: number
  readonly error: boolean
  readonly fault: boolean
  readonly throttle: boolean
}

function sample(span: TimelineSpan): Sample {
  return { ms: span.durationMs ?? 0, ...outcome(span.entity) }
}

export function summarize(samples: readonly Sample[]): Stats {
  const n = samples.length
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b)
  const count = (pick: (s: Sample) => boolean) => samples.filter(pick).length
  const errors = count((s) => s.error)
  const throttles = count((s) => s.throttle)
  const faults = count((s) => s.fault)
  const total = sorted.reduce((a, b) => a + b, 0)
  return {
    requests: n,
    ok: count((s) => !s.error && !s.fault),
    errors,
    throttles,
    faults,
    errorRate: n === 0 ? 0 : errors / n,
    throttleRate: n === 0 ? 0 : throttles / n,
    faultRate: n === 0 ? 0 : faults / n,
    averageMs: n === 0 ? 0 : Math.round((total / n) * 1000) / 1000,
    p95Ms: n === 0 ? 0 : (sorted[Math.ceil(n * 0.95) - 1] ?? 0),
  }
}

function inferredType(span: TimelineSpan): NodeType {
  const { entity } = span
  if (entity.sql) return 'database'
  if (entity.annotations && 'smtp_response_code' in entity.annotations) return 'mail'
  return entity.namespace === 'aws' ? 'aws' : 'remote'
}

interface NodeEntry {
  readonly name: string
  readonly type: NodeType
  readonly origin: string | undefined
  readonly samples: Sample[]
}

export function buildServiceGraph(traces: Iterable<StoredTrace | AssembledTrace>): ServiceGraph {
  const nodes = new Map<string, NodeEntry>()
  const edges = new Map<string, { source: string; target: string; samples: Sample[] }>()
  const node = (type: NodeType, name: string, origin?: string) => {
    const key = type === 'service' ? `service\u0000${name}\u0000${origin ?? ''}` : `${type}\u0000${name}`
    let entry = nodes.get(key)
    if (!entry) {
      entry = { name, type, origin, samples: [] }
      nodes.set(key, entry)
    }
    return key
  }
  const edge = (source: string, target: string, s: Sample) => {
    const key = `${source}\u0001${target}`
    let entry = edges.get(key)
    if (!entry) {
      entry = { source, target, samples: [] }
      edges.set(key, entry)
    }
    entry.samples.push(s)
  }

  for (const item of traces) {
    const { spans } = 'spans' in item ? item : assembleTrace(item)
    const byId = new Map(spans.map((s) => [s.id, s]))
    const serviceOf = (span: TimelineSpan | undefined) => {
      const segment = span?.segmentId ? byId.get(span.segmentId) : undefined
      return segment ? node('service', segment.name, segment.entity.origin) : undefined
    }
    const callers = new Set<string>()
    for (const span of spans) {
      if (span.kind !== 'segment') continue
      const target = node('service', span.name, span.entity.origin)
      const parent = span.parentId === null ? undefined : byId.get(span.parentId)
      const caller = serviceOf(parent)
      if (parent && caller) callers.add(parent.id)
      if (span.inProgress) continue
      nodes.get(target)?.samples.push(sample(span))
      if (!parent || !caller) {
        edge(node('client', 'client'), target, sample(span))
      } else if (!parent.inProgress) {
        // A call is measured on the caller's side; a segment called by a segment (no subsegment) by itself.
        edge(caller, target, sample(parent.kind === 'subsegment' ? parent : span))
      }
    }
    for (const span of spans) {
      const namespace = span.entity.namespace
      if (span.kind !== 'subsegment' || span.inProgress || callers.has(span.id)) continue
      if (namespace !== 'remote' && namespace !== 'aws') continue
      const owner = serviceOf(span)
      if (!owner) continue
      const target = node(inferredType(span), span.name)
      nodes.get(target)?.samples.push(sample(span))
      edge(owner, target, sample(span))
    }
  }

  const client = nodes.get('client\u0000client')
  if (client) {
    for (const e of edges.values()) if (e.source === 'client\u0000client') client.samples.push(...e.samples)
  }
  const sharedNames = new Set<string>()
  const seen = new Set<string>()
  for (const entry of nodes.values()) {
    if (seen.has(entry.name)) sharedNames.add(entry.name)
    seen.add(entry.name)
  }
  const ids = new Map<string, string>()
  for (const [key, entry] of nodes) {
    ids.set(key, sharedNames.has(entry.name) ? `${entry.name} (${entry.origin ?? entry.type})` : entry.name)
  }
  return {
    nodes: [...nodes].map(([key, { name, type, origin, samples }]) => ({
      id: ids.get(key) ?? name,
      name,
      type,
      ...(origin === undefined ? {} : { origin }),
      ...summarize(samples),
    })),
    edges: [...edges.values()].map(({ source, target, samples }) => ({
      source: ids.get(source) ?? source,
      target: ids.get(target) ?? target,
      ...summarize(samples),
    })),
  }
}
