import { describe, expect, test } from 'bun:test'
import { courseDocuments, courseTraceIds } from '../testing'
import {
  type EntityDocument,
  type KeyValue,
  type OtlpSpan,
  otlpResource,
  otlpResourceSource,
  otlpTraceId,
  spanCount,
  toOtlpRequest,
} from '.'

const resource = otlpResource({ serviceName: 'User-Management-Microservice', version: '1.2.3' })

function convertedSpans(): OtlpSpan[] {
  const request = toOtlpRequest(courseDocuments(), resource, { name: 'app', version: '1.2.3' })
  return request.resourceSpans?.[0]?.scopeSpans?.[0]?.spans ?? []
}

const span = (id: string) => {
  const found = convertedSpans().find((s) => s.spanId === id)
  if (!found) throw new Error(`no span ${id}`)
  return found
}

const text = (key: string, value: string): KeyValue => ({ key, value: { stringValue: value } })
const int = (key: string, value: number): KeyValue => ({ key, value: { intValue: value } })
const hex = (xrayId: string) => xrayId.slice(2, 10) + xrayId.slice(11)
const nanos = (id: string, which: 'start_time' | 'end_time') => {
  const entity = courseDocuments()
    .flatMap(function all(e): { id: string; start_time: number; end_time?: number | undefined }[] {
      return [e, ...(e.subsegments ?? []).flatMap(all)]
    })
    .find((e) => e.id === id)
  return `${Math.round((entity?.[which] ?? 0) * 1e6)}000`
}

describe('segment documents as OTLP spans', () => {
  test('a segment is a SERVER span named by its method, with the current HTTP conventions', () => {
    expect(span('1000000000000001')).toEqual({
      traceId: hex(courseTraceIds.notification),
      spanId: '1000000000000001',
      flags: 0x101,
      name: 'GET',
      kind: 2,
      startTimeUnixNano: nanos('1000000000000001', 'start_time'),
      endTimeUnixNano: nanos('1000000000000001', 'end_time'),
      attributes: [
        text('http.request.method', 'GET'),
        text('url.full', 'http://usermgmt.example:8095/usermgmt/notification-xray'),
        text('url.scheme', 'http'),
        text('url.path', '/usermgmt/notification-xray'),
        text('server.address', 'usermgmt.example'),
        int('server.port', 8095),
        // Forwarded (X-Forwarded-For): no network.peer.address, so X-Ray marks the address forwarded as before.
        text('client.address', '203.0.113.7'),
        text('user_agent.original', 'curl/8.5.0'),
        int('http.response.status_code', 200),
        int('http.response.body.size', 61),
      ],
    })
  })

  test('a SQL query is a CLIENT span that names the node database@host by peer.service and the db.* X-Ray reads', () => {
    const query = span('1000000000000002')
    expect(query).toEqual({
      traceId: hex(courseTraceIds.notification),
      spanId: '1000000000000002',
      parentSpanId: '1000000000000001',
      flags: 0x101,
      name: 'usermgmt',
      kind: 3,
      startTimeUnixNano: nanos('1000000000000002', 'start_time'),
      endTimeUnixNano: nanos('1000000000000002', 'end_time'),
      attributes: [
        text('peer.service', 'usermgmt@mysql'),
        text('db.system', 'mysql'),
        text('db.system.name', 'mysql'),
        text('db.name', 'usermgmt'),
        text('db.namespace', 'usermgmt'),
        text('db.connection_string', 'mysql://mysql:3306'),
        text('server.address', 'mysql'),
        int('server.port', 3306),
        text('db.user', 'dbadmin'),
        text('db.statement', 'select `username` from `users` where `username` = ?'),
        text('db.query.text', 'select `username` from `users` where `username` = ?'),
      ],
    })
    // Without peer.service the translator names a query db.name@(the host of db.connection_string): the same.
    const value = (key: string) => query.attributes?.find((a) => a.key === key)?.value?.stringValue ?? ''
    expect(`${value('db.name')}@${new URL(value('db.connection_string')).hostname}`).toBe('usermgmt@mysql')
  })

  test('the call to notification is a CLIENT span, and notification continues under it as a remote parent', () => {
    expect(span('1000000000000003')).toEqual({
      traceId: hex(courseTraceIds.notification),
      spanId: '1000000000000003',
      parentSpanId: '1000000000000001',
      flags: 0x101,
      name: 'POST',
      kind: 3,
      startTimeUnixNano: nanos('1000000000000003', 'start_time'),
      endTimeUnixNano: nanos('1000000000000003', 'end_time'),
      attributes: [
        text('peer.service', 'notification-clusterip-service'),
        text('http.request.method', 'POST'),
        text('url.full', 'http://notification-clusterip-service:8096/notification/send'),
        text('server.address', 'notification-clusterip-service'),
        int('server.port', 8096),
        int('http.response.status_code', 200),
        int('http.response.body.size', 2),
      ],
    })
    expect(span('2000000000000001')).toMatchObject({
      kind: 2,
      parentSpanId: '1000000000000003',
      flags: 0x301,
      traceId: hex(courseTraceIds.notification),
    })
    // The peer is the client when nothing forwarded the request.
    expect(span('2000000000000001').attributes).toContainEqual(text('network.peer.address', '10.0.1.23'))
  })

  test('a mail is a CLIENT span named for the SMTP host, its reply code an annotation X-Ray indexes', () => {
    expect(span('2000000000000002')).toEqual({
      traceId: hex(courseTraceIds.notification),
      spanId: '2000000000000002',
      parentSpanId: '2000000000000001',
      flags: 0x101,
      name: 'email-smtp.us-east-1.amazonaws.com',
      kind: 3,
      startTimeUnixNano: nanos('2000000000000002', 'start_time'),
      endTimeUnixNano: nanos('2000000000000002', 'end_time'),
      attributes: [
        text('peer.service', 'email-smtp.us-east-1.amazonaws.com'),
        int('smtp_response_code', 250),
        { key: 'aws.xray.annotations', value: { arrayValue: { values: [{ stringValue: 'smtp_response_code' }] } } },
      ],
    })
  })

  test('a fault is an error status with an exception event; a 4xx is an error only on the client side', () => {
    const failed = span('3000000000000001')
    expect(failed.status).toEqual({ code: 2, message: 'Connection lost: The server closed the connection.' })
    expect(failed.events).toEqual([
      {
        timeUnixNano: nanos('3000000000000001', 'end_time'),
        name: 'exception',
        attributes: [
          text('exception.type', 'Error'),
          text('exception.message', 'Connection lost: The server closed the connection.'),
          text(
            'exception.stacktrace',
            [
              'Error: Connection lost: The server closed the connection.',
              '    at createUser (/app/services/usermgmt/users.ts:42:0)',
              '    at processTicksAndRejections (node:internal/process/task_queues:105:0)',
            ].join('\n'),
          ),
        ],
      },
    ])
    expect(span('3000000000000002')).toMatchObject({ status: { code: 2, message: 'Connection lost' } })
    expect(span('3000000000000003')).toMatchObject({ status: { code: 2 } })
    expect(span('3000000000000003').attributes).toContainEqual(int('http.response.status_code', 429))
    expect(span('1000000000000001').status).toBeUndefined()
  })

  test('an independent subsegment hangs under the parent_id it names, which is remote', () => {
    expect(span('4000000000000001')).toMatchObject({
      traceId: hex(courseTraceIds.outbox),
      parentSpanId: '4000000000000000',
      kind: 3,
      flags: 0x301,
      name: 'POST',
    })
  })

  test('documents still in progress and subsegments not ended are left for the complete document', () => {
    const open: EntityDocument = {
      trace_id: courseTraceIds.failed,
      id: '5000000000000001',
      name: 'x',
      start_time: 1,
      in_progress: true,
      subsegments: [{ id: '5000000000000002', name: 'y', start_time: 1 }],
    }
    const done: EntityDocument = {
      ...open,
      in_progress: undefined,
      end_time: 2,
      subsegments: [
        { id: '5000000000000002', name: 'y', start_time: 1 },
        { id: '5000000000000003', name: 'z', start_time: 1, end_time: 2 },
      ],
    }
    const spans = (documents: EntityDocument[]) =>
      toOtlpRequest(documents, resource, { name: 'app', version: '1' }).resourceSpans?.[0]?.scopeSpans?.[0]?.spans
    expect(spans([open])).toEqual([])
    expect(spans([done])?.map((s) => s.spanId)).toEqual(['5000000000000001', '5000000000000003'])
    expect(spanCount(done)).toBe(2)
  })

  test('trace ids are the X-Ray ids without 1- and the dash', () => {
    expect(otlpTraceId('1-5759e988-bd862e3fe1be46a994272793')).toBe('5759e988bd862e3fe1be46a994272793')
    expect(otlpTraceId('5759e988bd862e3fe1be46a994272793')).toBeUndefined()
    expect(new Set(convertedSpans().map((s) => s.traceId))).toEqual(
      new Set([hex(courseTraceIds.notification), hex(courseTraceIds.failed), hex(courseTraceIds.outbox)]),
    )
  })
})

describe('the resource', () => {
  const attributes = (list: readonly KeyValue[]) =>
    Object.fromEntries(list.map(({ key, value }) => [key, value?.stringValue]))

  test('names the service and the runtime; OTEL_RESOURCE_ATTRIBUTES adds to it but never renames the service', () => {
    expect(
      attributes(
        otlpResource({
          serviceName: 'User-Management-Microservice',
          version: '1.2.3',
          attributes: { 'service.name': 'other', 'deployment.environment.name': 'course', 'service.version': '9' },
        }),
      ),
    ).toEqual({
      'service.name': 'User-Management-Microservice',
      'service.version': '9',
      'deployment.environment.name': 'course',
      'telemetry.sdk.name': 'app',
      'telemetry.sdk.language': 'nodejs',
      'telemetry.sdk.version': '1.2.3',
      'process.runtime.name': 'bun',
      'process.runtime.version': Bun.version,
    })
  })

  test('on EKS carries what X-Ray turns into origin AWS::EKS::Container and aws.eks, once detection answers', async () => {
    let answer: (value: { cluster_name: string; pod: string; container_id: string }) => void = () => {}
    const eks = new Promise<{ cluster_name: string; pod: string; container_id: string }>((resolve) => {
      answer = resolve
    })
    const source = otlpResourceSource({ serviceName: 'V1-Notification-Microservice', version: '1', eks })
    expect(attributes(source())['cloud.platform']).toBeUndefined()
    answer({ cluster_name: 'eksdemo1', pod: 'notification-abc', container_id: 'c'.repeat(64) })
    await eks
    await Promise.resolve()
    expect(attributes(source())).toMatchObject({
      'cloud.provider': 'aws',
      'cloud.platform': 'aws_eks',
      'k8s.cluster.name': 'eksdemo1',
      'k8s.pod.name': 'notification-abc',
      'container.id': 'c'.repeat(64),
    })
  })
})
