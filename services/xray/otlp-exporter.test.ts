// The OTLP/HTTP exporter against a real HTTP server: what it sends (read by the official decoder), when, and what
// it does when the collector is slow, refuses, or is not there. Nothing here races a clock: batches are sent when
// full or on close(), and every wait is for a condition.
import { describe, expect, test } from 'bun:test'
import { createServer } from 'node:net'
import { defaultOtlpConfig, type OtlpBatchConfig, type OtlpConfig, Secret } from '../platform'
import { captureLog, courseDocuments, officialDecode, startOtlpSink, waitUntil } from '../testing'
import {
  createOtlpExporter,
  type EntityDocument,
  maxRequestBytes,
  type OtlpExporterOptions,
  otlpResource,
  retryAfterMs,
  spanCount,
} from '.'

const resource = otlpResource({ serviceName: 'User-Management-Microservice', version: '1.2.3' })

function exporterFor(
  endpoint: string,
  settings: Partial<Omit<OtlpConfig, 'batch'>> & { batch?: Partial<OtlpBatchConfig> } = {},
  options: Partial<OtlpExporterOptions> = {},
) {
  const captured = captureLog()
  const config: OtlpConfig = {
    ...defaultOtlpConfig,
    ...settings,
    endpoint,
    // A schedule delay no test waits for: batches go when full, or on close().
    batch: { ...defaultOtlpConfig.batch, scheduleDelayMs: 60_000, ...settings.batch },
  }
  const exporter = createOtlpExporter({
    config,
    resource: () => resource,
    version: '1.2.3',
    log: captured.log,
    ...options,
  })
  return { exporter, captured }
}

type Decoded = { resourceSpans: { scopeSpans: { spans: { spanId: string }[] }[] }[] }
const spanIds = (body: Uint8Array) =>
  (officialDecode(body) as Decoded).resourceSpans.flatMap((r) =>
    r.scopeSpans.flatMap((s) => s.spans.map((x) => x.spanId)),
  )
const allSpanIds = (documents: readonly EntityDocument[]) =>
  documents.flatMap(function ids(e: EntityDocument): string[] {
    return [e.id, ...(e.subsegments ?? []).flatMap(ids)]
  })

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  return typeof address === 'object' && address ? address.port : 1
}

describe('sending', () => {
  test('a full batch goes at once, the rest on close(); every request is what the official decoder reads', async () => {
    await using sink = startOtlpSink()
    const { exporter } = exporterFor(sink.url, { batch: { maxExportBatchSize: 5 } })
    const [usermgmt, notification, failed, outbox] = courseDocuments()
    if (!usermgmt || !notification || !failed || !outbox) throw new Error('course documents')
    exporter.export([usermgmt]) // 3 spans: less than a batch
    exporter.export([notification]) // 5 spans: a batch
    await waitUntil(() => expect(sink.received).toHaveLength(1))
    exporter.export([failed, outbox])
    expect(exporter.stats().queued).toBe(4)
    await exporter.close()
    expect(sink.received.map((r) => spanIds(r.body))).toEqual([
      allSpanIds([usermgmt, notification]),
      allSpanIds([failed, outbox]),
    ])
    expect(sink.received[0]?.headers.get('content-type')).toBe('application/x-protobuf')
    expect(exporter.stats()).toEqual({ sent: 9, dropped: 0, failed: 0, rejected: 0, queued: 0 })
  })

  test('http/json with gzip sends the JSON encoding, compressed, with the configured headers', async () => {
    await using sink = startOtlpSink()
    const headers = [{ name: 'x-api-key', value: new Secret('k3y-that-stays-secret') }]
    const { exporter, captured } = exporterFor(sink.url, { protocol: 'http/json', compression: 'gzip', headers })
    exporter.export(courseDocuments())
    await exporter.close()
    const [request] = sink.received
    expect(request?.headers.get('content-type')).toBe('application/json')
    expect(request?.headers.get('content-encoding')).toBe('gzip')
    expect(request?.headers.get('x-api-key')).toBe('k3y-that-stays-secret')
    const json = JSON.parse(Buffer.from(request?.body ?? []).toString('utf8')) as Decoded
    expect(json.resourceSpans[0]?.scopeSpans[0]?.spans.map((s) => s.spanId)).toEqual(allSpanIds(courseDocuments()))
    expect(captured.text()).not.toContain('k3y-that-stays-secret')
  })

  test('a batch above the request size limit is split, each request below it', async () => {
    await using sink = startOtlpSink()
    const { exporter } = exporterFor(sink.url, { batch: { maxExportBatchSize: 10_000, maxQueueSize: 10_000 } })
    const big = 'x'.repeat(100_000)
    const documents = Array.from({ length: 60 }, (_, i) => ({
      trace_id: '1-6553f100-000000000000000000000001',
      id: (0x1000 + i).toString(16).padStart(16, '0'),
      name: 'Front',
      start_time: Date.now() / 1000 - 1,
      end_time: Date.now() / 1000,
      annotations: { big },
    }))
    exporter.export(documents)
    await exporter.close()
    expect(sink.received.length).toBeGreaterThan(1)
    for (const request of sink.received) expect(request.body.byteLength).toBeLessThanOrEqual(maxRequestBytes)
    expect(sink.received.flatMap((r) => spanIds(r.body))).toEqual(documents.map((d) => d.id))
  })
})

describe('when the collector is slow, refuses or is away', () => {
  test('429 and 503 are retried as Retry-After says, 502 after a back-off, then the batch is delivered', async () => {
    const answers = [
      () => new Response(null, { status: 503, headers: { 'retry-after': '0' } }),
      () => new Response(null, { status: 429, headers: { 'retry-after': '0' } }),
      () => new Response(null, { status: 502 }),
      () => new Response(null, { status: 200 }),
    ]
    await using sink = startOtlpSink((n) => (answers[n] ?? answers[3])?.() ?? new Response(null))
    const { exporter } = exporterFor(sink.url, { batch: { maxExportBatchSize: 9 } })
    exporter.export(courseDocuments())
    await waitUntil(() => expect(exporter.stats()).toMatchObject({ sent: 9, failed: 0 }))
    expect(sink.received).toHaveLength(4)
    await exporter.close()
  })

  test('400 is not retried: the spans are counted failed and the reason logged', async () => {
    await using sink = startOtlpSink(
      () =>
        new Response(JSON.stringify({ code: 3, message: 'trace id is all zeroes' }), {
          status: 400,
          headers: { 'content-type': 'application/json' },
        }),
    )
    const { exporter, captured } = exporterFor(sink.url)
    exporter.export(courseDocuments())
    await exporter.close()
    expect(sink.received).toHaveLength(1)
    expect(exporter.stats()).toMatchObject({ sent: 0, failed: 9 })
    expect(captured.lines.filter((l) => l['level'] === 'warn')).toMatchObject([
      { message: 'the OTLP endpoint refused spans', reason: 'HTTP 400: trace id is all zeroes', spansLost: 9 },
    ])
  })

  test('a partial success counts the rejected spans and says why', async () => {
    await using sink = startOtlpSink(
      () =>
        new Response(JSON.stringify({ partialSuccess: { rejectedSpans: '2', errorMessage: 'too old' } }), {
          headers: { 'content-type': 'application/json' },
        }),
    )
    const { exporter, captured } = exporterFor(sink.url, { protocol: 'http/json' })
    exporter.export(courseDocuments())
    await exporter.close()
    expect(exporter.stats()).toMatchObject({ sent: 7, rejected: 2 })
    expect(captured.lines.find((l) => l['level'] === 'warn')).toMatchObject({ rejected: 2, reason: 'too old' })
  })

  test('a collector that is not there costs one log line, however many batches fail', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1/traces`
    const { exporter, captured } = exporterFor(url, { batch: { maxExportBatchSize: 1, exportTimeoutMs: 200 } })
    for (const document of courseDocuments()) exporter.export([document])
    await waitUntil(() => expect(exporter.stats().failed).toBe(9))
    await exporter.close()
    const warnings = captured.lines.filter((l) => l['level'] === 'warn')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ message: 'cannot send spans to the OTLP endpoint', endpoint: url })
  })

  test('while a request hangs the queue stays bounded; close() gives up at its deadline', async () => {
    let release = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    await using sink = startOtlpSink(async () => {
      await held
      return new Response(null)
    })
    const { exporter } = exporterFor(
      sink.url,
      { batch: { maxExportBatchSize: 3, maxQueueSize: 5, exportTimeoutMs: 600_000 }, timeoutMs: 120_000 },
      { closeTimeoutMs: 300 },
    )
    const [usermgmt, notification, failed, outbox] = courseDocuments()
    if (!usermgmt || !notification || !failed || !outbox) throw new Error('course documents')
    exporter.export([usermgmt]) // 3 spans: a batch, sent, and held by the server
    await waitUntil(() => expect(sink.received).toHaveLength(1))
    exporter.export([notification, failed, outbox]) // 2 + 3 fit the queue of 5; the last 1 does not
    expect(exporter.stats()).toMatchObject({ queued: 5, dropped: 1 })
    await exporter.close()
    release()
    expect(exporter.stats()).toMatchObject({ sent: 0, queued: 0 })
    expect(exporter.stats().failed + exporter.stats().dropped).toBe(9)
  })

  test('spans handed over after close() are counted, not sent', async () => {
    await using sink = startOtlpSink()
    const { exporter } = exporterFor(sink.url)
    await exporter.close()
    const documents = courseDocuments()
    exporter.export(documents)
    expect(exporter.stats().dropped).toBe(documents.reduce((sum, d) => sum + spanCount(d), 0))
    expect(sink.received).toHaveLength(0)
  })
})

test('Retry-After is read as seconds or as an HTTP date', () => {
  const now = Date.parse('Wed, 21 Oct 2026 07:28:00 GMT')
  expect(retryAfterMs('3', now)).toBe(3000)
  expect(retryAfterMs('Wed, 21 Oct 2026 07:28:02 GMT', now)).toBe(2000)
  expect(retryAfterMs('Wed, 21 Oct 2026 07:27:00 GMT', now)).toBe(0)
  expect(retryAfterMs('soon', now)).toBeUndefined()
  expect(retryAfterMs(null, now)).toBeUndefined()
})
