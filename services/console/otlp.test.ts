// The console's OTLP/HTTP side over real sockets: spans drawn in the same map as segments, and the answers the
// OTLP specification asks for.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { gzipSync } from 'node:zlib'
import { captureLog, waitUntil } from '../testing'
import {
  decodeStatus,
  decodeTraceResponse,
  type EntityDocument,
  type ExportTraceServiceRequest,
  encodeTraceRequest,
  type OtlpSpan,
  otlpResource,
  toOtlpRequest,
} from '../xray'
import { type RunningConsole, startConsole } from '.'
import { knownGraph, knownTraceId, knownTraffic } from './known-traffic-fixture'

type Edge = { source: string; target: string }
const byEdge = (a: Edge, b: Edge) => `${a.source}>${a.target}`.localeCompare(`${b.source}>${b.target}`)
const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id)

type OtlpStats = {
  requests: number
  spans: { accepted: number; rejected: number }
  refused: Record<string, number>
  discarded: number
}

let xray: RunningConsole
beforeAll(async () => {
  xray = await startConsole({
    udp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    otlp: { host: '127.0.0.1', port: 0 },
    log: captureLog().log,
  })
})
afterAll(() => xray.stop())

const tracesUrl = () => `${xray.otlpUrl}/v1/traces`
const otlpStats = async () => ((await (await fetch(`${xray.url}/api/stats`)).json()) as { otlp: OtlpStats }).otlp

function post(body: Uint8Array | string, headers: Record<string, string>, path = '/v1/traces') {
  return fetch(`${xray.otlpUrl}${path}`, { method: 'POST', body, headers })
}

const protobuf = { 'content-type': 'application/x-protobuf' }
const json = { 'content-type': 'application/json' }

/** The known traffic's finished documents as one OTLP request per service, named by the resource as SDKs do. */
function knownTrafficAsOtlp(): ExportTraceServiceRequest[] {
  const documents = knownTraffic()
    .map((datagram) => JSON.parse(datagram.slice(datagram.indexOf('\n') + 1)) as EntityDocument)
    .filter((document) => document.end_time !== undefined)
  const byService = new Map<string, EntityDocument[]>()
  for (const document of documents) {
    const service = document.type === 'subsegment' ? 'Front' : document.name
    byService.set(service, [...(byService.get(service) ?? []), document])
  }
  return [...byService].map(([service, owned]) =>
    toOtlpRequest(owned, otlpResource({ serviceName: service, version: '1' }), { name: 'test', version: '1' }),
  )
}

describe('spans in the map', () => {
  test('the known traffic sent as OTLP (protobuf, and gzipped JSON) draws the map its segments draw', async () => {
    const [front, back] = knownTrafficAsOtlp()
    if (!front || !back) throw new Error('two services')
    const first = await post(encodeTraceRequest(front, 'protobuf'), protobuf)
    expect(first.status).toBe(200)
    expect(first.headers.get('content-type')).toBe('application/x-protobuf')
    expect(new Uint8Array(await first.arrayBuffer())).toEqual(new Uint8Array())
    const second = await post(gzipSync(encodeTraceRequest(back, 'json')), { ...json, 'content-encoding': 'gzip' })
    expect(second.status).toBe(200)
    expect(await second.json()).toEqual({})

    const graph = (await (await fetch(`${xray.url}/api/service-graph`)).json()) as typeof knownGraph
    expect({ nodes: [...graph.nodes].sort(byId), edges: [...graph.edges].sort(byEdge) }).toEqual({
      nodes: [...knownGraph.nodes].sort(byId),
      edges: [...knownGraph.edges].sort(byEdge),
    })
    const traces = (await (await fetch(`${xray.url}/api/traces?service=Front`)).json()) as { id: string }[]
    expect(traces.map((t) => t.id).sort()).toEqual(Array.from({ length: 20 }, (_, i) => knownTraceId(i + 1)).sort())
    expect(await otlpStats()).toMatchObject({ requests: 2, spans: { rejected: 0 } })
  })

  test('a span whose parent came in an earlier request, with a random W3C trace id, joins its parent in one trace', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const span = (fields: Partial<OtlpSpan> & Pick<OtlpSpan, 'spanId' | 'name'>): OtlpSpan => ({
      traceId,
      startTimeUnixNano: '1700000000000000000',
      endTimeUnixNano: '1700000000100000000',
      ...fields,
    })
    const request = (spans: OtlpSpan[]): ExportTraceServiceRequest => ({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
          scopeSpans: [{ spans }],
        },
      ],
    })
    const client = span({
      spanId: '00f067aa0ba902b7',
      parentSpanId: '00f067aa0ba902b6',
      name: 'GET',
      kind: 3,
      attributes: [
        { key: 'http.request.method', value: { stringValue: 'GET' } },
        { key: 'url.full', value: { stringValue: 'http://payments:8080/pay' } },
        { key: 'http.response.status_code', value: { intValue: 503 } },
      ],
    })
    expect((await post(encodeTraceRequest(request([client]), 'json'), json)).status).toBe(200)
    const server = span({ spanId: '00f067aa0ba902b6', name: 'POST /checkout', kind: 2 })
    expect((await post(encodeTraceRequest(request([server]), 'protobuf'), protobuf)).status).toBe(200)
    const trace = (await (await fetch(`${xray.url}/api/traces/1-4bf92f35-77b34da6a3ce929d0e0e4736`)).json()) as {
      services: string[]
      spans: { name: string; depth: number; fault: boolean; document: { http?: { request?: { url?: string } } } }[]
    }
    expect(trace.services).toEqual(['checkout'])
    expect(trace.spans.map((s) => [s.name, s.depth, s.fault])).toEqual([
      ['checkout', 0, false],
      // No peer.service: as in X-Ray, a call is named by its span name when nothing better says who it called.
      ['GET', 1, true],
    ])
    expect(trace.spans[1]?.document.http?.request?.url).toBe('http://payments:8080/pay')
  })
})

describe('answers, as the OTLP specification says', () => {
  test('spans that cannot be documents are a partial success that says why', async () => {
    const bad: ExportTraceServiceRequest = {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: '5759e988bd862e3fe1be46a994272793',
                  spanId: '1111111111111111',
                  name: 'backwards',
                  startTimeUnixNano: '2000',
                  endTimeUnixNano: '1000',
                },
                {
                  traceId: '00000000000000000000000000000000',
                  spanId: '2222222222222222',
                  name: 'zero',
                  startTimeUnixNano: '1000',
                  endTimeUnixNano: '2000',
                },
                {
                  traceId: '5759e988bd862e3fe1be46a994272793',
                  spanId: '3333333333333333',
                  name: 'fine',
                  startTimeUnixNano: '1000',
                  endTimeUnixNano: '2000',
                },
              ],
            },
          ],
        },
      ],
    }
    const before = await otlpStats()
    for (const [encoding, headers] of [
      ['protobuf', protobuf],
      ['json', json],
    ] as const) {
      const response = await post(encodeTraceRequest(bad, encoding), headers)
      expect(response.status).toBe(200)
      const decoded = decodeTraceResponse(new Uint8Array(await response.arrayBuffer()), encoding)
      expect(decoded.ok && decoded.value.partialSuccess).toMatchObject({
        errorMessage: 'rejected 2 span(s): an end time before the start time; a trace or span id of zeroes',
      })
      expect(decoded.ok && Number(decoded.value.partialSuccess?.rejectedSpans)).toBe(2)
    }
    const after = await otlpStats()
    expect(after.spans.rejected - before.spans.rejected).toBe(4)
    expect(after.spans.accepted - before.spans.accepted).toBe(2)
  })

  test('what is no export request is refused with the status the specification names, and counted', async () => {
    const before = await otlpStats()
    const status = async (response: Response) => ({
      status: response.status,
      message: decodeStatus(
        new Uint8Array(await response.arrayBuffer()),
        response.headers.get('content-type') === 'application/x-protobuf' ? 'protobuf' : 'json',
      )?.message,
    })
    expect(await status(await post('{"resourceSpans":', json))).toMatchObject({ status: 400 })
    expect(await status(await post(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), protobuf))).toMatchObject({
      status: 400,
    })
    expect(await status(await post('x', { 'content-type': 'text/plain' }))).toEqual({
      status: 415,
      message: 'Content-Type must be application/x-protobuf or application/json',
    })
    expect(await status(await post('{}', { ...json, 'content-encoding': 'br' }))).toEqual({
      status: 415,
      message: 'Content-Encoding br is not supported: use gzip',
    })
    expect(await status(await post('not gzip', { ...json, 'content-encoding': 'gzip' }))).toEqual({
      status: 400,
      message: 'the body is not valid gzip',
    })
    // 21 MiB of zeroes gzip to a few KiB: the limit holds after decompression too.
    const bomb = gzipSync(new Uint8Array(21 * 1024 * 1024))
    expect(bomb.byteLength).toBeLessThan(100_000)
    expect(await status(await post(bomb, { ...protobuf, 'content-encoding': 'gzip' }))).toEqual({
      status: 413,
      message: 'the body is larger than 20971520 bytes once decompressed',
    })
    expect(await status(await post(new Uint8Array(21 * 1024 * 1024), protobuf))).toEqual({
      status: 413,
      message: 'the body is larger than 20971520 bytes',
    })
    const get = await fetch(tracesUrl())
    expect(get.status).toBe(405)
    expect(get.headers.get('allow')).toBe('POST')
    expect((await post('{}', json, '/v2/traces')).status).toBe(404)
    const after = await otlpStats()
    expect(
      Object.fromEntries(
        Object.entries(after.refused).map(([reason, n]) => [reason, n - (before.refused[reason] ?? 0)]),
      ),
    ).toEqual({
      not_found: 1,
      method_not_allowed: 1,
      unsupported_media_type: 2,
      too_large: 2,
      bad_compression: 1,
      bad_request: 2,
    })
  })

  test('metrics and logs are taken and discarded; an empty export is a success', async () => {
    const before = await otlpStats()
    for (const path of ['/v1/metrics', '/v1/logs']) {
      const response = await post(new Uint8Array(), protobuf, path)
      expect(response.status).toBe(200)
      expect((await post('{"resourceMetrics":[]}', json, path)).status).toBe(200)
    }
    expect((await post(new Uint8Array(), protobuf)).status).toBe(200)
    expect(await (await post('{}', json)).json()).toEqual({})
    await waitUntil(async () => expect((await otlpStats()).discarded - before.discarded).toBe(4))
  })
})
