// One trace put together: every segment and subsegment (nested, independent or another service's segment) under
// the entity whose id is its parent_id, whatever order the documents came in. The timeline and the service map
// both read this.
import type { StoredTrace } from './collector'
import type { Entity } from './document'

export interface TimelineSpan {
  readonly id: string
  /** The entity this one hangs under: its container, or the one its parent_id names; null for a root. */
  readonly parentId: string | null
  readonly depth: number
  readonly kind: 'segment' | 'subsegment'
  readonly name: string
  /** The segment this entity belongs to (itself for a segment); null while that segment has not arrived. */
  readonly segmentId: string | null
  readonly startTime: number
  readonly endTime: number | null
  /** From the start of the trace. */
  readonly offsetMs: number
  readonly durationMs: number | null
  readonly inProgress: boolean
  readonly error: boolean
  readonly fault: boolean
  readonly throttle: boolean
  readonly status: number | null
  readonly entity: Entity
}

export interface TraceSummary {
  readonly id: string
  /** The root segment's name, method, URL and status (the request the trace is about). */
  readonly root: string | null
  readonly method: string | null
  readonly url: string | null
  readonly status: number | null
  readonly error: boolean
  readonly fault: boolean
  readonly throttle: boolean
  /** Segment names from the root down. */
  readonly services: readonly string[]
  readonly startTime: number
  readonly durationMs: number
  readonly documents: number
  readonly spans: number
  /** Something is still in progress, or a traced call's segment has not arrived. */
  readonly incomplete: boolean
}

export interface AssembledTrace {
  readonly summary: TraceSummary
  /** Depth first from the roots, siblings by start time: the timeline's rows. */
  readonly spans: readonly TimelineSpan[]
}

/** Seconds to milliseconds at the microsecond resolution X-Ray times have. */
export function toMs(seconds: number): number {
  return Math.round(seconds * 1_000_000) / 1000
}

/** 4xx is an error (429 also a throttle), 5xx a fault, as the SDKs flag them and the X-Ray console counts them. */
export function outcome(entity: Entity): { error: boolean; fault: boolean; throttle: boolean } {
  const status = entity.http?.response?.status
  const throttle = entity.throttle === true || status === 429
  return {
    throttle,
    error: entity.error === true || throttle || (status !== undefined && status >= 400 && status < 500),
    fault: entity.fault === true || (status !== undefined && status >= 500),
  }
}

interface Node {
  readonly entity: Entity
  readonly kind: 'segment' | 'subsegment'
  /** The containing entity for a nested subsegment; parent_id for a document. */
  readonly parent: string | undefined
  readonly nested: boolean
}

export function assembleTrace(trace: StoredTrace): AssembledTrace {
  const nodes = new Map<string, Node>()
  const add = (entity: Entity, node: Node) => {
    if (nodes.has(entity.id)) return
    nodes.set(entity.id, node)
    for (const child of entity.subsegments ?? [])
      add(child, { entity: child, kind: 'subsegment', parent: entity.id, nested: true })
  }
  for (const document of trace.documents.values()) {
    add(document, {
      entity: document,
      kind: document.type === 'subsegment' ? 'subsegment' : 'segment',
      parent: document.parent_id,
      nested: false,
    })
  }
  const children = new Map<string | null, Node[]>()
  for (const node of nodes.values()) {
    const parent =
      node.parent !== undefined && node.parent !== node.entity.id && nodes.has(node.parent) ? node.parent : null
    const list = children.get(parent)
    if (list) list.push(node)
    else children.set(parent, [node])
  }
  for (const list of children.values()) list.sort((a, b) => a.entity.start_time - b.entity.start_time)

  const all = [...nodes.values()].map((n) => n.entity)
  const start = Math.min(...all.map((e) => e.start_time))
  const end = Math.max(...all.map((e) => e.end_time ?? e.start_time))
  const spans: TimelineSpan[] = []
  const visited = new Set<string>()
  const visit = (node: Node, parentId: string | null, depth: number, segmentId: string | null) => {
    const { entity } = node
    if (visited.has(entity.id)) return
    visited.add(entity.id)
    const owner = node.kind === 'segment' ? entity.id : segmentId
    const end = entity.end_time ?? null
    spans.push({
      id: entity.id,
      parentId,
      depth,
      kind: node.kind,
      name: entity.name,
      segmentId: owner,
      startTime: entity.start_time,
      endTime: end,
      offsetMs: toMs(entity.start_time - start),
      durationMs: end === null ? null : toMs(end - entity.start_time),
      inProgress: end === null,
      ...outcome(entity),
      status: entity.http?.response?.status ?? null,
      entity,
    })
    for (const child of children.get(entity.id) ?? []) visit(child, entity.id, depth + 1, owner)
  }
  for (const root of children.get(null) ?? []) visit(root, null, 0, null)
  // Documents whose parent_ids form a loop reach no root: show them as roots rather than lose them.
  for (const node of nodes.values()) if (!visited.has(node.entity.id)) visit(node, null, 0, null)

  const rootSpan = spans.find((s) => s.parentId === null && s.kind === 'segment') ?? spans[0]
  const called = new Set(spans.filter((s) => s.kind === 'segment' && s.parentId !== null).map((s) => s.parentId))
  const awaiting = spans.some((s) => s.entity.traced === true && !called.has(s.id))
  const root = rootSpan?.entity
  return {
    spans,
    summary: {
      id: trace.id,
      root: root?.name ?? null,
      method: root?.http?.request?.method ?? null,
      url: root?.http?.request?.url ?? null,
      status: root?.http?.response?.status ?? null,
      error: rootSpan?.error ?? false,
      fault: rootSpan?.fault ?? false,
      throttle: rootSpan?.throttle ?? false,
      services: [...new Set(spans.filter((s) => s.kind === 'segment').map((s) => s.name))],
      startTime: start,
      durationMs: toMs(end - start),
      documents: trace.documents.size,
      spans: spans.length,
      incomplete: awaiting || spans.some((s) => s.inProgress),
    },
  }
}
