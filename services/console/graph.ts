import type { Entity, StoredTrace } from './collector'

// How X-Ray draws its service map (xray-on-bun.md section 6): a node per segment name (and origin), an edge from
// the caller's subsegment to the segment whose parent_id it is, inferred nodes for remote calls nobody else
// reports, and a client node in front of every root segment. Edge statistics come from the caller's subsegment.

export interface Stats {
  readonly requests: number
  readonly averageMs: number
  readonly p95Ms: number
  readonly errorRate: number
  readonly faultRate: number
  readonly throttleRate: number
}

export interface GraphNode extends Stats {
  readonly name: string
  /** 'client', 'service' (sends its own segments), 'database', 'mail' or 'remote' (inferred). */
  readonly type: 'client' | 'service' | 'database' | 'mail' | 'remote'
  readonly origin?: string
}

export interface GraphEdge extends Stats {
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

function sample(entity: Entity): Sample {
  const end = entity.end_time ?? entity.start_time
  const status = entity.http?.response?.status
  return {
    ms: Math.max(0, (end - entity.start_time) * 1000),
    error: entity.error === true || (status !== undefined && status >= 400 && status < 500),
    fault: entity.fault === true || (status !== undefined && status >= 500),
    throttle: entity.throttle === true || status === 429,
  }
}

function summarize(samples: readonly Sample[]): Stats {
  const n = samples.length
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b)
  const round = (x: number) => Math.round(x * 100) / 100
  const rate = (pick: (s: Sample) => boolean) => (n === 0 ? 0 : round(samples.filter(pick).length / n))
  return {
    requests: n,
    averageMs: n === 0 ? 0 : round(sorted.reduce((a, b) => a + b, 0) / n),
    p95Ms: n === 0 ? 0 : round(sorted[Math.min(n - 1, Math.ceil(n * 0.95) - 1)] ?? 0),
    errorRate: rate((s) => s.error),
    faultRate: rate((s) => s.fault),
    throttleRate: rate((s) => s.throttle),
  }
}

function walk(entity: Entity, visit: (sub: Entity) => void): void {
  for (const sub of entity.subsegments ?? []) {
    visit(sub)
    walk(sub, visit)
  }
}

function inferredType(sub: Entity): GraphNode['type'] {
  if (sub.sql) return 'database'
  const annotations = sub['annotations'] as Record<string, unknown> | undefined
  if (annotations && 'smtp_response_code' in annotations) return 'mail'
  return 'remote'
}

export function buildServiceGraph(traces: Iterable<StoredTrace>): ServiceGraph {
  const nodeSamples = new Map<string, { node: Omit<GraphNode, keyof Stats>; samples: Sample[] }>()
  const edgeSamples = new Map<string, { source: string; target: string; samples: Sample[] }>()
  const addNode = (name: string, type: GraphNode['type'], origin: string | undefined, s: Sample | undefined) => {
    let entry = nodeSamples.get(name)
    if (!entry) {
      entry = { node: { name, type, ...(origin ? { origin } : {}) }, samples: [] }
      nodeSamples.set(name, entry)
    }
    if (s) entry.samples.push(s)
  }
  const addEdge = (source: string, target: string, s: Sample) => {
    const key = `${source}\u0000${target}`
    let entry = edgeSamples.get(key)
    if (!entry) {
      entry = { source, target, samples: [] }
      edgeSamples.set(key, entry)
    }
    entry.samples.push(s)
  }

  for (const trace of traces) {
    const documents = [...trace.documents.values()].filter((d) => !d.in_progress)
    const segments = documents.filter((d) => d.type !== 'subsegment')
    const owner = new Map<string, string>()
    const subsegments: { sub: Entity; owner: string }[] = []
    for (const segment of segments) {
      owner.set(segment.id, segment.name)
      walk(segment, (sub) => {
        owner.set(sub.id, segment.name)
        subsegments.push({ sub, owner: segment.name })
      })
    }
    // Independent subsegments may arrive before or after their parent, and nest: resolve until stable.
    let pending = documents.filter((d) => d.type === 'subsegment')
    for (let round = 0; round < 5 && pending.length > 0; round++) {
      pending = pending.filter((doc) => {
        const parent = doc.parent_id === undefined ? undefined : owner.get(doc.parent_id)
        if (parent === undefined) return true
        owner.set(doc.id, parent)
        subsegments.push({ sub: doc, owner: parent })
        walk(doc, (sub) => {
          owner.set(sub.id, parent)
          subsegments.push({ sub, owner: parent })
        })
        return false
      })
    }
    const callers = new Set<string>()
    for (const segment of segments) {
      addNode(segment.name, 'service', segment.origin, sample(segment))
      const caller =
        segment.parent_id === undefined ? undefined : subsegments.find((s) => s.sub.id === segment.parent_id)
      if (caller) {
        callers.add(caller.sub.id)
        addEdge(caller.owner, segment.name, sample(caller.sub))
      } else {
        addNode('client', 'client', undefined, undefined)
        addEdge('client', segment.name, sample(segment))
      }
    }
    for (const { sub, owner: from } of subsegments) {
      if (callers.has(sub.id) || (sub.namespace !== 'remote' && sub.namespace !== 'aws')) continue
      addNode(sub.name, inferredType(sub), undefined, sample(sub))
      addEdge(from, sub.name, sample(sub))
    }
  }

  const nodes = [...nodeSamples.values()].map(({ node, samples }) => ({ ...node, ...summarize(samples) }))
  const clientNode = nodes.find((n) => n.type === 'client')
  if (clientNode) {
    const fromClient = [...edgeSamples.values()].filter((e) => e.source === 'client').flatMap((e) => e.samples)
    Object.assign(clientNode, summarize(fromClient))
  }
  return {
    nodes,
    edges: [...edgeSamples.values()].map(({ source, target, samples }) => ({ source, target, ...summarize(samples) })),
  }
}
