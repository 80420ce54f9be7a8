// Which trace a request continues, and what its calls carry on: X-Amzn-Trace-Id and W3C traceparent side by side,
// as OTEL_PROPAGATORS says, so that a system half on OpenTelemetry and half on X-Ray stays one trace.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Propagator } from '../platform'
import { captureLog, type FakeDaemon, startFakeDaemon, testXrayConfig } from '../testing'
import { createTracer, type EntityDocument, type SpanExporter, type Tracer, traceEverything } from '.'

let daemon: FakeDaemon
/** A callee that answers with the trace headers it was sent. */
let callee: ReturnType<typeof Bun.serve>
beforeAll(async () => {
  daemon = await startFakeDaemon()
  callee = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: (request) =>
      Response.json({
        xray: request.headers.get('x-amzn-trace-id'),
        traceparent: request.headers.get('traceparent'),
        tracestate: request.headers.get('tracestate'),
        baggage: request.headers.get('baggage'),
      }),
  })
})
afterAll(async () => {
  daemon.close()
  await callee.stop(true)
})

function tracerWith(propagators: readonly Propagator[], exporter?: SpanExporter): Tracer {
  const config = testXrayConfig(daemon.port, { tracingName: 'Propagation-Test', propagators })
  return createTracer({
    config,
    log: captureLog().log,
    samplingRules: traceEverything,
    centralizedSampling: false,
    ...(exporter ? { exporter } : {}),
  })
}

type Sent = { xray: string | null; traceparent: string | null; tracestate: string | null; baggage: string | null }

/** Handles one request with these headers, calling the callee from inside it; what the callee saw, and the answer. */
async function handle(tracer: Tracer, headers: Record<string, string>) {
  let sent: Sent | undefined
  const response = await tracer.around(new Request('http://svc/work', { headers }), async () => {
    sent = (await (await tracer.fetch(`http://127.0.0.1:${callee.port}/next`)).json()) as Sent
    return new Response('ok')
  })
  if (!sent) throw new Error('the handler made no call')
  return { sent, answer: response.headers.get('x-amzn-trace-id') ?? '' }
}

const defaults: Propagator[] = ['tracecontext', 'baggage', 'xray']
const w3cTrace = '4bf92f3577b34da6a3ce929d0e0e4736'
const xrayOfW3c = '1-4bf92f35-77b34da6a3ce929d0e0e4736'
const xrayTrace = '1-6b000000-0123456789abcdef01234567'

describe('a request arriving with trace headers', () => {
  let tracer: Tracer
  beforeAll(() => {
    tracer = tracerWith(defaults)
  })
  afterAll(() => tracer.close())

  test('continues a W3C traceparent: the same trace in both formats, its parent, and both headers sent on', async () => {
    const { sent, answer } = await handle(tracer, {
      traceparent: `00-${w3cTrace}-00f067aa0ba902b7-01`,
      tracestate: 'vendor=opaque',
      baggage: 'tenant=blue',
    })
    expect(answer).toBe(`Root=${xrayOfW3c}`)
    const parent = /Parent=([0-9a-f]{16})/.exec(sent.xray ?? '')?.[1]
    expect(sent.xray).toBe(`Root=${xrayOfW3c};Parent=${parent};Sampled=1`)
    expect(sent.traceparent).toBe(`00-${w3cTrace}-${parent}-01`)
    expect([sent.tracestate, sent.baggage]).toEqual(['vendor=opaque', 'tenant=blue'])
    const documents = await daemon.waitFor((docs) => docs.some((d) => d.trace_id === xrayOfW3c))
    const own = documents.find((d) => d.trace_id === xrayOfW3c)
    expect(own?.parent_id).toBe('00f067aa0ba902b7')
    expect(own?.subsegments?.[0]?.id).toBe(parent)
  })

  test("honours the caller's decision in either header: traceparent 00 or Sampled=0 records nothing", async () => {
    const recorded: EntityDocument[] = []
    const quiet = tracerWith(defaults, {
      export: (documents) => void recorded.push(...documents),
      close: async () => {},
    })
    const callers: Record<string, string>[] = [
      { traceparent: `00-${w3cTrace.replace('4b', '5c')}-00f067aa0ba902b7-00` },
      { 'x-amzn-trace-id': `Root=${xrayTrace.replace('01234', '98765')};Parent=53995c3f42cd8ad8;Sampled=0` },
    ]
    for (const headers of callers) {
      const { sent } = await handle(quiet, headers)
      expect(sent.xray).toEndWith(';Sampled=0')
      expect(sent.traceparent).toEndWith('-00')
    }
    // Closing hands over whatever was finished: nothing was.
    await quiet.close()
    expect(recorded).toEqual([])
  })

  test("follows traceparent over the load balancer's Root-only X-Amzn-Trace-Id, which names no parent", async () => {
    const { answer, sent } = await handle(tracer, {
      'x-amzn-trace-id': `Root=${xrayTrace};Self=1-6b000001-abcdefabcdefabcdefabcdef`,
      traceparent: `00-${w3cTrace}-00f067aa0ba902b7-01`,
    })
    expect(answer).toBe(`Root=${xrayOfW3c}`)
    expect(sent.traceparent).toStartWith(`00-${w3cTrace}-`)
  })

  test('when both name a parent, the later propagator (xray by default) decides, as OpenTelemetry composes them', async () => {
    const both = {
      'x-amzn-trace-id': `Root=${xrayTrace};Parent=53995c3f42cd8ad8;Sampled=1`,
      traceparent: `00-${w3cTrace}-00f067aa0ba902b7-01`,
    }
    expect((await handle(tracer, both)).answer).toBe(`Root=${xrayTrace}`)
    const w3cLast = tracerWith(['xray', 'tracecontext'])
    expect((await handle(w3cLast, both)).answer).toBe(`Root=${xrayOfW3c}`)
    await w3cLast.close()
  })

  test('starts a new trace for a malformed traceparent (version ff, zero ids, bad flags)', async () => {
    for (const traceparent of [
      `ff-${w3cTrace}-00f067aa0ba902b7-01`,
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `00-${w3cTrace}-${'0'.repeat(16)}-01`,
      `00-${w3cTrace}-00f067aa0ba902b7-1`,
      `00-${w3cTrace}-00f067aa0ba902b7-01-extra`,
    ]) {
      const { answer } = await handle(tracer, { traceparent })
      expect(answer).not.toContain(xrayOfW3c)
      expect(answer).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/)
    }
  })
})

describe('OTEL_PROPAGATORS', () => {
  test('xray alone reads and sends only X-Amzn-Trace-Id; tracecontext alone only traceparent; none neither', async () => {
    const incoming = {
      'x-amzn-trace-id': `Root=${xrayTrace};Parent=53995c3f42cd8ad8;Sampled=1`,
      traceparent: `00-${w3cTrace}-00f067aa0ba902b7-01`,
      baggage: 'tenant=blue',
    }
    const xrayOnly = tracerWith(['xray'])
    const viaXray = await handle(xrayOnly, incoming)
    expect(viaXray.answer).toBe(`Root=${xrayTrace}`)
    expect([viaXray.sent.traceparent, viaXray.sent.baggage]).toEqual([null, null])

    const w3cOnly = tracerWith(['tracecontext'])
    const viaW3c = await handle(w3cOnly, incoming)
    expect(viaW3c.answer).toBe(`Root=${xrayOfW3c}`)
    expect(viaW3c.sent.xray).toBeNull()
    expect(viaW3c.sent.traceparent).toStartWith(`00-${w3cTrace}-`)

    const none = tracerWith([])
    const viaNone = await handle(none, incoming)
    expect(viaNone.answer).not.toContain(xrayTrace)
    expect(viaNone.answer).not.toContain(xrayOfW3c)
    expect([viaNone.sent.xray, viaNone.sent.traceparent]).toEqual([null, null])
    await Promise.all([xrayOnly.close(), w3cOnly.close(), none.close()])
  })
})
