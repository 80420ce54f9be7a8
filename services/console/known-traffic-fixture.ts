// A known set of requests, as segment documents, and the service map they must give, worked out by hand here
// (not by the console's code): the API test and the page test both check the console against it.

const t0 = 1_700_000_000
const header = '{"format":"json","version":1}\n'

export const knownTraceId = (i: number) => `1-6553f100-${i.toString(16).padStart(24, '0')}`
const id = (kind: number, i: number) => `${kind.toString(16).padStart(8, '0')}${i.toString(16).padStart(8, '0')}`

type Doc = Record<string, unknown> & { id: string }

/** Flags as the SDKs set them: 4xx error (429 also throttle), 5xx fault. */
function flags(status: number) {
  return {
    ...(status >= 400 && status < 500 ? { error: true } : {}),
    ...(status === 429 ? { throttle: true } : {}),
    ...(status >= 500 ? { fault: true } : {}),
  }
}

function timed(startS: number, durationMs: number) {
  return { start_time: startS, end_time: startS + durationMs / 1000 }
}

/**
 * 20 requests from a client to `Front`, request i taking 10*i ms; #4 answers 404, #8 429, #12 500.
 * Every even request calls `Back` (subsegment `back-host`, 5*i ms; `Back` itself 4*i ms; #12 fails with 500).
 * Requests 5, 10, 15, 20 run one SQL query on `orders@db-host` taking i/5 ms (the one of #10 sent as an independent
 * subsegment); #20's `Back` sends a mail via `smtp-host` (7 ms); #3 calls `ghost-host`, which answers 503 and sends
 * no segment (an inferred node). Documents arrive out of order: each `Back` segment before the `Front` that calls it,
 * and #6's `Front` first in progress.
 */
export function knownTraffic(): string[] {
  const datagrams: string[] = []
  const send = (doc: Doc) => datagrams.push(header + JSON.stringify(doc))
  for (let i = 1; i <= 20; i++) {
    const traceId = knownTraceId(i)
    const start = t0 + i
    const status = i === 4 ? 404 : i === 8 ? 429 : i === 12 ? 500 : 200
    const subsegments: Doc[] = []
    if (i % 2 === 0) {
      const callStatus = i === 12 ? 500 : 200
      const call = {
        id: id(2, i),
        name: 'back-host',
        namespace: 'remote',
        traced: true,
        ...timed(start + 0.001, 5 * i),
        http: { request: { method: 'GET', url: 'http://back-host/back' }, response: { status: callStatus } },
        ...flags(callStatus),
      }
      subsegments.push(call)
      const back: Doc = {
        trace_id: traceId,
        id: id(3, i),
        parent_id: call.id,
        name: 'Back',
        ...timed(start + 0.002, 4 * i),
        http: { request: { method: 'GET', url: 'http://back-host/back' }, response: { status: callStatus } },
        ...flags(callStatus),
      }
      if (i === 20) {
        back['subsegments'] = [
          {
            id: id(4, i),
            name: 'smtp-host',
            namespace: 'remote',
            ...timed(start + 0.003, 7),
            annotations: { smtp_response_code: 250 },
          },
        ]
      }
      send(back)
    }
    const sql = {
      id: id(5, i),
      name: 'orders@db-host',
      namespace: 'remote',
      ...timed(start + 0.0005, i / 5),
      sql: { url: 'db-host:3306/orders', database_type: 'MySQL' },
    }
    if (i % 5 === 0 && i !== 10) subsegments.push(sql)
    if (i === 3) {
      subsegments.push({
        id: id(6, i),
        name: 'ghost-host',
        namespace: 'remote',
        traced: true,
        ...timed(start + 0.001, 3),
        http: { request: { method: 'GET', url: 'http://ghost-host/' }, response: { status: 503 } },
        fault: true,
      })
    }
    const front: Doc = {
      trace_id: traceId,
      id: id(1, i),
      name: 'Front',
      ...timed(start, 10 * i),
      http: { request: { method: 'GET', url: `http://front/orders/${i}` }, response: { status } },
      ...flags(status),
      ...(subsegments.length > 0 ? { subsegments } : {}),
    }
    if (i === 6) send({ trace_id: traceId, id: front.id, name: 'Front', start_time: start, in_progress: true })
    if (i === 10) send({ ...sql, type: 'subsegment', trace_id: traceId, parent_id: front.id })
    send(front)
  }
  return datagrams
}

const stats = (
  requests: number,
  counts: { errors?: number; throttles?: number; faults?: number },
  averageMs: number,
  p95Ms: number,
) => {
  const errors = counts.errors ?? 0
  const throttles = counts.throttles ?? 0
  const faults = counts.faults ?? 0
  return {
    requests,
    ok: requests - errors - faults,
    errors,
    throttles,
    faults,
    errorRate: errors / requests,
    throttleRate: throttles / requests,
    faultRate: faults / requests,
    averageMs,
    p95Ms,
  }
}

// Front: 10..200 ms, mean 105, 95th percentile by nearest rank the 19th of 20 = 190; 404 and 429 are errors
// (429 also a throttle), 500 a fault. back-host calls: 10..100 ms (mean 55, p95 the 10th of 10 = 100), one 500.
// Back: 8..80 ms (mean 44, p95 80). SQL: 1, 2, 3, 4 ms (mean 2.5, p95 the 4th = 4).
const front = stats(20, { errors: 2, throttles: 1, faults: 1 }, 105, 190)

export const knownGraph = {
  nodes: [
    { id: 'client', name: 'client', type: 'client', ...front },
    { id: 'Front', name: 'Front', type: 'service', ...front },
    { id: 'Back', name: 'Back', type: 'service', ...stats(10, { faults: 1 }, 44, 80) },
    { id: 'orders@db-host', name: 'orders@db-host', type: 'database', ...stats(4, {}, 2.5, 4) },
    { id: 'ghost-host', name: 'ghost-host', type: 'remote', ...stats(1, { faults: 1 }, 3, 3) },
    { id: 'smtp-host', name: 'smtp-host', type: 'mail', ...stats(1, {}, 7, 7) },
  ],
  edges: [
    { source: 'client', target: 'Front', ...front },
    { source: 'Front', target: 'Back', ...stats(10, { faults: 1 }, 55, 100) },
    { source: 'Front', target: 'orders@db-host', ...stats(4, {}, 2.5, 4) },
    { source: 'Front', target: 'ghost-host', ...stats(1, { faults: 1 }, 3, 3) },
    { source: 'Back', target: 'smtp-host', ...stats(1, {}, 7, 7) },
  ],
}
