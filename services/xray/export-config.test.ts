// OTEL_TRACES_EXPORTER's choices, each sending where its settings say: X-Ray segments over UDP, OTLP over HTTP,
// both with the same trace and span ids, or nothing.
import { expect, test } from 'bun:test'
import { defaultOtlpConfig, type TracesExporterName } from '../platform'
import { captureLog, officialDecode, startFakeDaemon, startOtlpSink, testXrayConfig, waitUntil } from '../testing'
import { createTracer, exporterFromConfig, traceEverything } from '.'

type Decoded = {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] }
    scopeSpans: { spans: { traceId: string; spanId: string; parentSpanId?: string; kind: number }[] }[]
  }[]
}

async function traceOneRequest(exporters: readonly TracesExporterName[]) {
  const daemon = await startFakeDaemon()
  const sink = startOtlpSink()
  const config = testXrayConfig(daemon.port, {
    tracingName: 'User-Management-Microservice',
    exporters,
    otlp: { ...defaultOtlpConfig, endpoint: sink.url },
    resourceAttributes: { 'deployment.environment.name': 'test' },
  })
  const { log } = captureLog()
  const exporter = exporterFromConfig(config, { log, version: '1.2.3' })
  const tracer = createTracer({ config, log, exporter, samplingRules: traceEverything, centralizedSampling: false })
  await tracer.around(
    new Request('http://usermgmt/usermgmt/users'),
    async () => {
      await tracer.trace('sql', 'usermgmt@mysql', async () => {})
      return new Response('[]')
    },
    () => '127.0.0.1',
  )
  await tracer.close()
  return { daemon, sink }
}

test('xray,otlp sends every trace to both, with the same trace and span ids', async () => {
  const { daemon, sink } = await traceOneRequest(['xray', 'otlp'])
  using _daemon = daemon
  await using _sink = sink
  const [segment] = await daemon.waitFor((documents) => documents.length === 1)
  const request = await waitUntil(() => {
    expect(sink.received).toHaveLength(1)
    return officialDecode(sink.received[0]?.body ?? new Uint8Array()) as Decoded
  })
  const spans = request.resourceSpans[0]?.scopeSpans[0]?.spans ?? []
  const subsegment = segment?.subsegments?.[0]
  const otlpIds: unknown = spans.map((s) => [`1-${s.traceId.slice(0, 8)}-${s.traceId.slice(8)}`, s.spanId, s.kind])
  expect(otlpIds).toEqual([
    [segment?.trace_id, segment?.id, 2],
    [segment?.trace_id, subsegment?.id, 3],
  ])
  expect(request.resourceSpans[0]?.resource.attributes).toContainEqual({
    key: 'service.name',
    value: { stringValue: 'User-Management-Microservice' },
  })
  expect(request.resourceSpans[0]?.resource.attributes).toContainEqual({
    key: 'deployment.environment.name',
    value: { stringValue: 'test' },
  })
})

test('otlp alone sends no datagram; none sends nothing at all', async () => {
  const otlp = await traceOneRequest(['otlp'])
  using _daemon = otlp.daemon
  await using _sink = otlp.sink
  await waitUntil(() => expect(otlp.sink.received).toHaveLength(1))
  expect(otlp.daemon.datagrams).toHaveLength(0)

  const none = await traceOneRequest([])
  using _none = none.daemon
  await using _noneSink = none.sink
  expect(none.sink.received).toHaveLength(0)
  expect(none.daemon.datagrams).toHaveLength(0)
})
