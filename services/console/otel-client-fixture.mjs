// A client nobody here wrote: a Node.js service instrumented with the official OpenTelemetry SDK and its OTLP/HTTP
// exporter (run by node, not bun): `node otel-client-fixture.mjs OTLP_URL PROTOCOL TARGET_URL`. It handles one
// request of its own (a SERVER span) that calls TARGET_URL (a CLIENT span, W3C traceparent injected), exports to
// OTLP_URL in PROTOCOL (http/protobuf or http/json), and prints what it did as JSON.
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'

const [OTLP_URL, OTLP_PROTOCOL, TARGET_URL] = process.argv.slice(2)
const Exporter = OTLP_PROTOCOL === 'http/json' ? JsonExporter : ProtobufExporter
const official = new Exporter({ url: OTLP_URL })
const results = []
// The official exporter, recording what each export came to (0 success, 1 failure).
const recording = {
  export(spans, done) {
    official.export(spans, (result) => {
      results.push({ code: result.code, error: result.error?.message })
      done(result)
    })
  },
  shutdown: () => official.shutdown(),
  forceFlush: () => official.forceFlush(),
}

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'checkout' }),
  spanProcessors: [new BatchSpanProcessor(recording)],
})
// The AsyncLocalStorage context manager and the W3C trace context and baggage propagators, as an app sets them up.
provider.register()

const tracer = trace.getTracer('otel-client-fixture', '1.0.0')
const ids = {}
await tracer.startActiveSpan(
  'GET /checkout',
  {
    kind: SpanKind.SERVER,
    attributes: { 'http.request.method': 'GET', 'url.path': '/checkout', 'url.scheme': 'http' },
  },
  async (server) => {
    ids.traceId = server.spanContext().traceId
    ids.server = server.spanContext().spanId
    await tracer.startActiveSpan(
      'GET',
      { kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'GET', 'url.full': TARGET_URL } },
      async (client) => {
        ids.client = client.spanContext().spanId
        const headers = {}
        propagation.inject(context.active(), headers)
        ids.traceparent = headers.traceparent
        const response = await fetch(TARGET_URL, { headers })
        ids.status = response.status
        client.setAttribute('http.response.status_code', response.status)
        if (response.status >= 400) client.setStatus({ code: SpanStatusCode.ERROR })
        client.end()
      },
    )
    server.setAttribute('http.response.status_code', 200)
    server.end()
  },
)
await provider.shutdown()
process.stdout.write(`${JSON.stringify({ ...ids, results })}\n`)
