// The console as the daemon's stand-in: real UDP in, the JSON API out.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { captureLog, startFakeDaemon, waitUntil } from '../testing'
import { maxDatagramBytes } from '../xray'
import { type CollectorStats, createCollector, type RunningConsole, startConsole } from '.'
import { knownGraph, knownTraceId, knownTraffic } from './known-traffic-fixture'

const header = '{"format":"json","version":1}\n'

type Stats = CollectorStats & { forwarded: { sent: number; failed: number } | null }
type Edge = { source: string; target: string }

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url)
  expect(response.status).toBe(200)
  return (await response.json()) as T
}

/** Sends datagrams from a fresh socket, and waits until the console has read them all. */
async function sendAll(xray: RunningConsole, datagrams: readonly (string | Uint8Array)[]) {
  const before = xray.collector.stats().received
  const socket = await Bun.udpSocket({})
  for (const datagram of datagrams) socket.send(datagram, xray.udpPort, '127.0.0.1')
  socket.close()
  await waitUntil(() => expect(xray.collector.stats().received).toBe(before + datagrams.length), 15_000, 1)
}

const byEdge = (a: Edge, b: Edge) => `${a.source}>${a.target}`.localeCompare(`${b.source}>${b.target}`)
const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id)

describe('a console on ephemeral ports', () => {
  let xray: RunningConsole
  beforeAll(async () => {
    xray = await startConsole({
      udp: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      log: captureLog().log,
    })
  })
  afterAll(() => xray.stop())

  test('draws the service map of a known set of requests with exactly their counts, latencies and rates', async () => {
    await sendAll(xray, knownTraffic())
    const graph = await getJson<typeof knownGraph>(`${xray.url}/api/service-graph`)
    expect({ nodes: [...graph.nodes].sort(byId), edges: [...graph.edges].sort(byEdge) }).toEqual({
      nodes: [...knownGraph.nodes].sort(byId),
      edges: [...knownGraph.edges].sort(byEdge),
    })
    const traces = await getJson<{ id: string; status: number; incomplete: boolean }[]>(`${xray.url}/api/traces`)
    expect(traces.map((t) => t.id)).toEqual(Array.from({ length: 20 }, (_, i) => knownTraceId(20 - i)))
    // #3's call to ghost-host was traced, but no segment answered it.
    expect(traces.filter((t) => t.incomplete).map((t) => t.id)).toEqual([knownTraceId(3)])
  })

  test('filters the trace list by service, URL, status and duration', async () => {
    const ids = async (query: string) =>
      (await getJson<{ id: string }[]>(`${xray.url}/api/traces?${query}`)).map((t) => t.id).sort()
    const known = (...numbers: number[]) => numbers.map(knownTraceId).sort()
    expect(await ids('service=Back&maxMs=60')).toEqual(known(2, 4, 6))
    expect(await ids('url=/orders/1&status=200')).toEqual(known(1, 10, 11, 13, 14, 15, 16, 17, 18, 19))
    expect(await ids('status=429')).toEqual(known(8))
    expect(await ids('minMs=185&service=Front')).toEqual(known(19, 20))
    expect((await fetch(`${xray.url}/api/traces?minMs=soon`)).status).toBe(400)
  })

  test('assembles a trace sent out of order and in pieces into one tree', async () => {
    const trace = '1-6b000000-aaaaaaaaaaaaaaaaaaaaaaaa'
    const user = 'a000000000000001'
    const outbox = 'a000000000000002'
    const notification = 'a000000000000003'
    const document = (fields: Record<string, unknown>) => header + JSON.stringify({ trace_id: trace, ...fields })
    const notificationSegment = {
      id: notification,
      parent_id: outbox,
      name: 'V1-Notification-Microservice',
      start_time: 10.1,
      end_time: 10.3,
      subsegments: [
        {
          id: 'a000000000000004',
          name: 'smtp-host',
          namespace: 'remote',
          start_time: 10.15,
          end_time: 10.25,
          annotations: { smtp_response_code: 250 },
        },
      ],
    }
    // The later call (an independent subsegment) and the segment it called, before the request's own segment.
    await sendAll(xray, [
      document(notificationSegment),
      document({
        type: 'subsegment',
        id: outbox,
        parent_id: user,
        name: 'notification-host',
        namespace: 'remote',
        traced: true,
        start_time: 10,
        end_time: 10.4,
      }),
      document({ id: user, name: 'User-Management-Microservice', start_time: 9, in_progress: true }),
    ])
    const partial = await getJson<{ incomplete: boolean; services: string[] }>(`${xray.url}/api/traces/${trace}`)
    expect(partial).toMatchObject({
      incomplete: true,
      services: ['User-Management-Microservice', 'V1-Notification-Microservice'],
    })
    await sendAll(xray, [
      document({
        id: user,
        name: 'User-Management-Microservice',
        start_time: 9,
        end_time: 9.5,
        http: { request: { method: 'POST', url: 'http://usermgmt/usermgmt/user' }, response: { status: 200 } },
        subsegments: [
          {
            id: 'a000000000000005',
            name: 'usermgmt@mysql',
            namespace: 'remote',
            start_time: 9.1,
            end_time: 9.125,
            sql: { database_type: 'MySQL' },
          },
        ],
      }),
      // An in-progress copy arriving late never replaces the complete document.
      document({ id: user, name: 'User-Management-Microservice', start_time: 9, in_progress: true }),
    ])
    const assembled = await getJson<{
      incomplete: boolean
      durationMs: number
      status: number
      documents: unknown[]
      spans: { id: string; parentId: string | null; depth: number; kind: string; name: string; durationMs: number }[]
    }>(`${xray.url}/api/traces/${trace}`)
    expect(
      assembled.spans.map(({ id, parentId, depth, kind, name, durationMs }) => ({
        id,
        parentId,
        depth,
        kind,
        name,
        durationMs,
      })),
    ).toEqual([
      { id: user, parentId: null, depth: 0, kind: 'segment', name: 'User-Management-Microservice', durationMs: 500 },
      { id: 'a000000000000005', parentId: user, depth: 1, kind: 'subsegment', name: 'usermgmt@mysql', durationMs: 25 },
      { id: outbox, parentId: user, depth: 1, kind: 'subsegment', name: 'notification-host', durationMs: 400 },
      {
        id: notification,
        parentId: outbox,
        depth: 2,
        kind: 'segment',
        name: 'V1-Notification-Microservice',
        durationMs: 200,
      },
      {
        id: 'a000000000000004',
        parentId: notification,
        depth: 3,
        kind: 'subsegment',
        name: 'smtp-host',
        durationMs: 100,
      },
    ])
    expect(assembled).toMatchObject({ incomplete: false, durationMs: 1400, status: 200 })
    expect(assembled.documents).toHaveLength(3)
  })

  test('counts each kind of malformed datagram, and keeps serving', async () => {
    const before = xray.collector.stats()
    const doc = { trace_id: '1-6b000000-bbbbbbbbbbbbbbbbbbbbbbbb', id: 'b000000000000001', name: 'Ok', start_time: 1 }
    const badDocuments: unknown[] = [
      { ...doc, name: 5, end_time: 2 },
      { ...doc, end_time: 2, http: { response: { status: '200' } } },
      { ...doc, end_time: 2, annotations: 'smtp_response_code' },
      { ...doc, end_time: 2, error: 'yes' },
      { ...doc, end_time: 2, subsegments: {} },
      { ...doc, end_time: 2, subsegments: [{ id: 'b000000000000002', name: 'sub', start_time: 1 }] },
      { ...doc, id: 'not-an-id', end_time: 2 },
      { ...doc, trace_id: 'nope', end_time: 2 },
      { ...doc, end_time: 0.5 },
      { ...doc },
      { ...doc, end_time: 2, type: 'subsegment' },
      [doc],
    ]
    await sendAll(xray, [
      'no header at all',
      `not json\n${JSON.stringify(doc)}`,
      `{"format":"xml","version":1}\n${JSON.stringify({ ...doc, end_time: 2 })}`,
      `{"format":"json","version":2}\n${JSON.stringify({ ...doc, end_time: 2 })}`,
      `${header}{not json`,
      header,
      ...badDocuments.map((d) => header + JSON.stringify(d)),
      `{"format": "json", "version": 1}\n${JSON.stringify({ ...doc, end_time: 2 })}`,
    ])
    // Longer than the daemon's 64 KiB buffer: IPv4 cannot carry it, so it is handed to the collector directly.
    expect(xray.collector.ingest(new Uint8Array(maxDatagramBytes + 1))).toEqual({ ok: false, reason: 'too_large' })
    const after = await getJson<Stats>(`${xray.url}/api/stats`)
    expect(after.rejected).toEqual({
      too_large: before.rejected.too_large + 1,
      bad_header: before.rejected.bad_header + 4,
      bad_json: before.rejected.bad_json + 2,
      bad_document: before.rejected.bad_document + badDocuments.length,
    })
    expect(after.accepted).toBe(before.accepted + 1)
    expect((await getJson<{ services: string[] }>(`${xray.url}/api/traces/${doc.trace_id}`)).services).toEqual(['Ok'])
    expect((await fetch(`${xray.url}/api/service-graph`)).status).toBe(200)
  })

  test('answers 404 for an unknown trace, and 409 for a save when no file was given', async () => {
    expect((await fetch(`${xray.url}/api/traces/1-6b000000-000000000000000000000000`)).status).toBe(404)
    expect((await fetch(`${xray.url}/api/nothing`)).status).toBe(404)
    expect((await fetch(`${xray.url}/api/save`, { method: 'POST' })).status).toBe(409)
  })
})

test('keeps the newest traces, and at most so many documents and bytes', async () => {
  await using xray = await startConsole({
    udp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    maxTraces: 50,
    log: captureLog().log,
  })
  const one = (n: number) =>
    `${header}{"trace_id":"1-6b000000-${n.toString(16).padStart(24, '0')}","id":"${n.toString(16).padStart(16, '0')}","name":"Svc","start_time":1,"end_time":2}`
  await sendAll(
    xray,
    Array.from({ length: 200 }, (_, n) => one(n)),
  )
  const stats = await getJson<Stats>(`${xray.url}/api/stats`)
  expect(stats).toMatchObject({ accepted: 200, traces: 50, documents: 50, evicted: 150 })
  const kept = (await getJson<{ id: string }[]>(`${xray.url}/api/traces`)).map((t) => t.id).sort()
  expect(kept).toEqual(Array.from({ length: 50 }, (_, n) => `1-6b000000-${(150 + n).toString(16).padStart(24, '0')}`))

  const collector = createCollector({ maxDocumentsPerTrace: 10, maxBytes: 200 * 1024 })
  const encode = (text: string) => new TextEncoder().encode(text)
  for (let n = 0; n < 12; n++) {
    collector.ingest(
      encode(
        `${header}{"trace_id":"1-6b000000-${'c'.repeat(24)}","id":"${n.toString(16).padStart(16, '0')}","name":"S","start_time":1,"end_time":2}`,
      ),
    )
  }
  expect(collector.stats()).toMatchObject({ accepted: 12, droppedTraceFull: 2, traces: 1, documents: 10 })
  const big = (n: number) =>
    encode(
      `${header}{"trace_id":"1-6b000000-${n.toString(16).padStart(24, 'd')}","id":"${'e'.repeat(16)}","name":"S","start_time":1,"end_time":2,"metadata":{"x":{"pad":"${'p'.repeat(60_000)}"}}}`,
    )
  for (let n = 0; n < 10; n++) collector.ingest(big(n))
  const bounded = collector.stats()
  expect(bounded.bytes).toBeLessThanOrEqual(200 * 1024)
  expect(bounded.traces).toBe(3)
  expect(bounded.evicted).toBe(8)
})

test('keeps its heap flat under a flood: what a full store holds is all that stays', async () => {
  await using xray = await startConsole({
    udp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    maxTraces: 100,
    log: captureLog().log,
  })
  let n = 0
  const flood = async (count: number) => {
    for (let batch = 0; batch < count / 200; batch++) {
      const datagrams = Array.from({ length: 200 }, () => {
        n++
        return `${header}${JSON.stringify({
          trace_id: `1-6b000000-${n.toString(16).padStart(24, '0')}`,
          id: n.toString(16).padStart(16, '0'),
          name: 'Flood',
          start_time: 1,
          end_time: 2,
          metadata: { default: { pad: 'x'.repeat(2000) } },
        })}`
      })
      await sendAll(xray, datagrams)
    }
    Bun.gc(true)
    return process.memoryUsage().heapUsed
  }
  const full = await flood(2_000)
  // Another 8,000 documents (about 16 MB): a store that kept them would grow by that much.
  const after = await flood(8_000)
  expect(xray.collector.stats()).toMatchObject({ accepted: 10_000, traces: 100, evicted: 9_900 })
  expect(after - full).toBeLessThan(4 * 1024 * 1024)
})

test('forwards every datagram unchanged to a real daemon, and saves the traces it keeps on request', async () => {
  using daemon = await startFakeDaemon()
  const dir = mkdtempSync(join(tmpdir(), 'console-save-'))
  const file = join(dir, 'traces.json')
  await using forwarding = await startConsole({
    udp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    forward: { host: '127.0.0.1', port: daemon.port },
    saveFile: file,
    log: captureLog().log,
  })
  const datagram = `${header}{"trace_id":"1-6b000000-cccccccccccccccccccccccc","id":"cccccccccccccccc","name":"Fwd","start_time":1,"end_time":2}`
  // Malformed ones too: the real daemon decides for itself.
  await sendAll(forwarding, [datagram, 'garbage'])
  await daemon.waitFor((docs) => docs.length === 1)
  await waitUntil(() => expect(daemon.invalid).toHaveLength(1))
  expect(daemon.datagrams[0]?.raw).toBe(datagram)
  expect(daemon.invalid[0]?.raw).toBe('garbage')
  expect((await getJson<Stats>(`${forwarding.url}/api/stats`)).forwarded).toEqual({ sent: 2, failed: 0 })
  const saved = await fetch(`${forwarding.url}/api/save`, { method: 'POST' })
  expect(await saved.json()).toEqual({ saved: 1, file })
  expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([
    { id: '1-6b000000-cccccccccccccccccccccccc', documents: [JSON.parse(datagram.slice(header.length))] },
  ])
  rmSync(dir, { recursive: true, force: true })
  const failed = await fetch(`${forwarding.url}/api/save`, { method: 'POST' })
  expect(failed.status).toBe(500)
  expect(await failed.json()).toEqual({ error: `could not write ${file}` })
})
