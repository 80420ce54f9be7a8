// OTLP spans as segment documents, by the collector awsxray translator's rules (read from its code).
import { describe, expect, test } from 'bun:test'
import type { AnyValue, ExportTraceServiceRequest, OtlpSpan } from '../xray'
import { documentsFromOtlp } from '.'

const traceId = '5759e988bd862e3fe1be46a994272793'
const xrayTraceId = '1-5759e988-bd862e3fe1be46a994272793'

function span(spanId: string, fields: Partial<OtlpSpan> = {}, attributes: Record<string, AnyValue> = {}): OtlpSpan {
  return {
    traceId,
    spanId,
    name: 'operation',
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000000250000000',
    attributes: Object.entries(attributes).map(([key, value]) => ({ key, value })),
    ...fields,
  }
}

function translate(spans: OtlpSpan[], resource: Record<string, string> = { 'service.name': 'shop' }) {
  const request: ExportTraceServiceRequest = {
    resourceSpans: [
      {
        resource: { attributes: Object.entries(resource).map(([key, v]) => ({ key, value: { stringValue: v } })) },
        scopeSpans: [{ spans }],
      },
    ],
  }
  return documentsFromOtlp(request)
}

const text = (value: string): AnyValue => ({ stringValue: value })

describe('names, as the translator gives them', () => {
  test('a SERVER span by the resource service.name; a call by aws.remote.service, peer.service or db.name@host', () => {
    const client = { kind: 3, parentSpanId: '1000000000000001' }
    const { documents } = translate([
      span('1000000000000001', { kind: 2, name: 'GET /cart' }),
      span('1000000000000002', client, { 'aws.remote.service': text('Payments'), 'peer.service': text('ignored') }),
      span('1000000000000003', client, { 'peer.service': text('inventory') }),
      span('1000000000000004', client, {
        'db.system': text('postgresql'),
        'db.name': text('orders'),
        'db.connection_string': text('jdbc:postgresql://db.internal:5432'),
        'db.statement': text('select 1'),
      }),
      span('1000000000000005', { ...client, name: 'GET' }, { 'http.request.method': text('GET') }),
    ])
    expect(documents).toHaveLength(1)
    const [segment] = documents
    expect(segment).toMatchObject({ name: 'shop', trace_id: xrayTraceId, id: '1000000000000001' })
    expect(segment?.subsegments?.map((s) => [s.name, s.namespace])).toEqual([
      ['Payments', 'remote'],
      ['inventory', 'remote'],
      ['orders@db.internal', 'remote'],
      ['GET', 'remote'],
    ])
    expect(segment?.subsegments?.[2]?.sql).toEqual({
      url: 'operation',
      database_type: 'postgresql',
      sanitized_query: 'select 1',
    })
  })

  test('names with characters X-Ray refuses are cleaned, an empty one becomes span', () => {
    const { documents } = translate(
      [span('2000000000000001', { name: 'a (b) <c>' }), span('2000000000000002', { name: '()' })],
      {},
    )
    expect(documents.map((d) => d.name)).toEqual(['a b c', 'span'])
  })
})

describe('what is a segment', () => {
  test('SERVER spans and spans without parent; a local span whose parent is remote; never a call', () => {
    const remote = 0x301
    const { documents } = translate([
      span('3000000000000001', { kind: 2, parentSpanId: '3000000000000000', flags: remote }),
      span('3000000000000002', { kind: 1 }),
      span('3000000000000003', { kind: 5, parentSpanId: '3000000000000009', flags: remote }),
      span('3000000000000004', { kind: 3, parentSpanId: '3000000000000009', flags: remote }),
      span('3000000000000005', { kind: 1, parentSpanId: '3000000000000009', flags: 0x101 }),
    ])
    expect(documents.map((d) => [d.id, d.type ?? 'segment', d.parent_id])).toEqual([
      ['3000000000000001', 'segment', '3000000000000000'],
      ['3000000000000002', 'segment', undefined],
      ['3000000000000003', 'segment', '3000000000000009'],
      ['3000000000000004', 'subsegment', '3000000000000009'],
      ['3000000000000005', 'subsegment', '3000000000000009'],
    ])
  })

  test('parents that loop leave each span a document of its own rather than lose them', () => {
    const { documents, rejected } = translate([
      span('4000000000000001', { kind: 3, parentSpanId: '4000000000000002' }),
      span('4000000000000002', { kind: 3, parentSpanId: '4000000000000001' }),
    ])
    expect(rejected).toBe(0)
    expect(documents.map((d) => [d.id, d.type, d.parent_id, d.subsegments])).toEqual([
      ['4000000000000001', 'subsegment', '4000000000000002', undefined],
      ['4000000000000002', 'subsegment', '4000000000000001', undefined],
    ])
  })
})

describe('http, outcome and attributes', () => {
  test('the URL is rebuilt from its parts, old conventions or new; a peer that is the client is not forwarded', () => {
    const { documents } = translate([
      span(
        '5000000000000001',
        { kind: 2 },
        {
          'http.request.method': text('POST'),
          'url.scheme': text('https'),
          'server.address': text('shop.example'),
          'server.port': { intValue: 443 },
          'url.path': text('/cart'),
          'url.query': text('id=1'),
          'client.address': text('198.51.100.4'),
          'network.peer.address': text('198.51.100.4'),
          'http.response.status_code': { intValue: 429 },
        },
      ),
      span(
        '5000000000000002',
        { kind: 2 },
        {
          'http.method': text('GET'),
          'http.host': text('legacy:8080'),
          'http.target': text('/old?x=1'),
          'http.client_ip': text('203.0.113.9'),
          'http.status_code': { intValue: 503 },
        },
      ),
    ])
    expect(documents.map((d) => ({ http: d.http, error: d.error, throttle: d.throttle, fault: d.fault }))).toEqual([
      {
        http: {
          request: { method: 'POST', url: 'https://shop.example/cart?id=1', client_ip: '198.51.100.4' },
          response: { status: 429 },
        },
        error: true,
        throttle: true,
        fault: undefined,
      },
      {
        http: {
          request: {
            method: 'GET',
            url: 'http://legacy:8080/old?x=1',
            client_ip: '203.0.113.9',
            x_forwarded_for: true,
          },
          response: { status: 503 },
        },
        error: undefined,
        throttle: undefined,
        fault: true,
      },
    ])
  })

  test('an error status is a fault; exception events are the cause, with frames from a JavaScript stack', () => {
    const exception = {
      timeUnixNano: '1700000000200000000',
      name: 'exception',
      attributes: [
        { key: 'exception.type', value: text('TypeError') },
        { key: 'exception.message', value: text('x is undefined') },
        {
          key: 'exception.stacktrace',
          value: text('TypeError: x is undefined\n    at pay (/srv/pay.js:10:5)\n    at /srv/main.js:3:1'),
        },
      ],
    }
    const { documents } = translate(
      [span('6000000000000001', { kind: 3, status: { code: 2, message: 'boom' }, events: [exception] })],
      { 'service.name': 'shop', 'telemetry.sdk.language': 'nodejs' },
    )
    const cause = documents[0]?.cause
    expect(documents[0]?.fault).toBe(true)
    expect(typeof cause === 'object' && cause.exceptions.map(({ id: _id, ...rest }) => rest)).toEqual([
      {
        type: 'TypeError',
        message: 'x is undefined',
        remote: true,
        stack: [
          { path: '/srv/pay.js', line: 10, label: 'pay' },
          { path: '/srv/main.js', line: 3, label: '' },
        ],
      },
    ])
  })

  test('attributes listed in aws.xray.annotations are annotations; the rest, and the resource, metadata', () => {
    const { documents } = translate(
      [
        span(
          '7000000000000001',
          { kind: 2 },
          {
            'order.id': { intValue: '42' },
            'customer-tier': text('gold'),
            note: text('kept as metadata'),
            'aws.xray.annotations': { arrayValue: { values: [text('order.id'), text('customer-tier')] } },
          },
        ),
      ],
      {
        'service.name': 'shop',
        'service.version': '2.1',
        'cloud.provider': 'aws',
        'cloud.platform': 'aws_eks',
        'k8s.cluster.name': 'eksdemo1',
        'k8s.pod.name': 'shop-1',
      },
    )
    expect(documents[0]).toMatchObject({
      annotations: { 'order.id': 42, customer_tier: 'gold' },
      metadata: { default: { note: 'kept as metadata', 'otel.resource.service.version': '2.1' } },
      origin: 'AWS::EKS::Container',
      aws: { eks: { cluster_name: 'eksdemo1', pod: 'shop-1' } },
      service: { version: '2.1' },
    })
  })
})
