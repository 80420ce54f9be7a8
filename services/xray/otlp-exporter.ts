// OTLP/HTTP export, as the OpenTelemetry specification's batch span processor and OTLP exporter behave: a bounded
// queue (spans beyond it are dropped and counted), batches of at most OTEL_BSP_MAX_EXPORT_BATCH_SIZE spans sent
// when full or after OTEL_BSP_SCHEDULE_DELAY, one request at a time, retried with back-off on 429, 502, 503, 504
// and on network errors (Retry-After honoured), every request bounded by OTEL_EXPORTER_OTLP_TIMEOUT and every batch
// by OTEL_BSP_EXPORT_TIMEOUT. Requests never depend on it: export() only queues.
import { gzipSync } from 'node:zlib'
import type { Logger, OtlpConfig } from '../platform'
import type { SpanExporter } from './exporter'
import type { EntityDocument } from './model'
import { spanCount, toOtlpRequest } from './otlp-convert'
import type { KeyValue } from './otlp-model'
import { decodeStatus, decodeTraceResponse, encodeTraceRequest, type OtlpEncoding, otlpContentTypes } from './otlp-wire'

export interface OtlpExporterStats {
  /** Spans the endpoint took (a partial success's rejected spans not included). */
  readonly sent: number
  /** Spans the queue had no room for, or that close() could not send in time. */
  readonly dropped: number
  /** Spans given up on: refused, or still failing when their batch ran out of time. */
  readonly failed: number
  /** Spans the endpoint answered it rejected (partial success). */
  readonly rejected: number
  /** Spans waiting to be sent. */
  readonly queued: number
}

export interface OtlpExporter extends SpanExporter {
  stats(): OtlpExporterStats
}

export interface OtlpExporterOptions {
  readonly config: OtlpConfig
  /** The resource of every request, read per batch (it gains the EKS attributes once they are known). */
  readonly resource: () => readonly KeyValue[]
  /** The instrumentation scope's version, and the User-Agent's. */
  readonly version: string
  readonly log: Logger
  /** The longest close() spends sending what is queued. @default 4000 */
  readonly closeTimeoutMs?: number | undefined
  /** How often a failing endpoint may cost a log line. @default 30000 */
  readonly logEveryMs?: number | undefined
}

/**
 * Bytes of one request before compression: below X-Ray's OTLP endpoint's 5 MB and the collector's default
 * 20 MiB, with room to spare for a batch that is larger than its span count suggests.
 */
export const maxRequestBytes = 4 * 1024 * 1024

const retryableStatuses = new Set([429, 502, 503, 504])
const firstRetryMs = 1000
const maxRetryMs = 5000

/** Retry-After as seconds or an HTTP date, in milliseconds from now; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined
  const text = header.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const date = Date.parse(text)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** Where requests go, for log lines: no query (tokens sometimes travel there). */
function shownEndpoint(endpoint: string): string {
  const url = URL.parse(endpoint)
  return url ? `${url.origin}${url.pathname}` : 'the OTLP endpoint'
}

type Attempt =
  | { readonly outcome: 'sent'; readonly rejected: number; readonly message: string | undefined }
  | { readonly outcome: 'retry'; readonly afterMs: number | undefined; readonly reason: string }
  | { readonly outcome: 'refused'; readonly reason: string }

/** A document waiting to be sent, with its span count worked out once, when it was queued. */
interface Queued {
  readonly document: EntityDocument
  readonly spans: number
}

const spansIn = (entries: readonly Queued[]) => entries.reduce((sum, entry) => sum + entry.spans, 0)

export function createOtlpExporter(options: OtlpExporterOptions): OtlpExporter {
  const { config, log } = options
  const { batch: limits } = config
  const encoding: OtlpEncoding = config.protocol === 'http/json' ? 'json' : 'protobuf'
  const endpoint = shownEndpoint(config.endpoint)
  const closeTimeoutMs = options.closeTimeoutMs ?? 4000
  const logEveryMs = options.logEveryMs ?? 30_000
  const scope = { name: 'app', version: options.version }
  const staticHeaders: Record<string, string> = {
    'content-type': otlpContentTypes[encoding],
    'user-agent': `app-otlp-exporter/${options.version}`,
  }
  if (config.compression === 'gzip') staticHeaders['content-encoding'] = 'gzip'

  let queue: Queued[] = []
  let queuedSpans = 0
  const counts = { sent: 0, dropped: 0, failed: 0, rejected: 0 }
  let timer: ReturnType<typeof setTimeout> | undefined
  let running: Promise<void> | undefined
  let closing: { readonly deadline: number } | undefined
  let closed = false
  /** Aborted when close() runs out of time: ends the request in flight and any pause between retries. */
  const stop = new AbortController()
  /** The schedule delay has passed: send what is queued even if it is less than a batch. */
  let flushDue = false

  // One line per problem kind per period, with what was lost since the last one: a collector that is away for an
  // hour costs a few dozen lines, not one per batch.
  const lastLogged = new Map<string, { at: number; lostSince: number }>()
  const warnLimited = (kind: string, message: string, fields: Record<string, unknown>, lost: number) => {
    const now = Date.now()
    const entry = lastLogged.get(kind)
    if (entry && now - entry.at < logEveryMs) {
      entry.lostSince += lost
      return
    }
    const lostSinceLast = (entry?.lostSince ?? 0) + lost
    lastLogged.set(kind, { at: now, lostSince: 0 })
    log.warn(message, { endpoint, ...fields, spansLost: lostSinceLast, ...counts })
  }

  const headers = (): Record<string, string> => {
    const all = { ...staticHeaders }
    for (const header of config.headers) all[header.name] = header.value.reveal()
    return all
  }

  /** Documents for one request: whole documents, at most the batch size unless one document alone is larger. */
  const takeBatch = (): Queued[] => {
    const batch: Queued[] = []
    let spans = 0
    while (queue.length > 0) {
      const next = queue[0]
      if (next === undefined) break
      if (batch.length > 0 && spans + next.spans > limits.maxExportBatchSize) break
      batch.push(next)
      queue.shift()
      spans += next.spans
    }
    queuedSpans -= spans
    return batch
  }

  /** The request bodies for a batch: halved until each fits maxRequestBytes. */
  const encode = (batch: Queued[]): { body: Uint8Array; spans: number }[] => {
    const request = toOtlpRequest(
      batch.map((entry) => entry.document),
      options.resource(),
      scope,
    )
    const body = encodeTraceRequest(request, encoding)
    if (body.byteLength <= maxRequestBytes || batch.length === 1) return [{ body, spans: spansIn(batch) }]
    const half = Math.ceil(batch.length / 2)
    return [...encode(batch.slice(0, half)), ...encode(batch.slice(half))]
  }

  const attempt = async (body: Uint8Array, deadline: number): Promise<Attempt> => {
    const timeout = Math.max(1, Math.min(config.timeoutMs, deadline - Date.now()))
    let response: Response
    try {
      response = await fetch(config.endpoint, {
        method: 'POST',
        headers: headers(),
        body: config.compression === 'gzip' ? gzipSync(body) : body,
        signal: AbortSignal.any([AbortSignal.timeout(timeout), stop.signal]),
      })
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')
      const reason = timedOut
        ? `no answer within ${timeout} ms`
        : error instanceof Error
          ? error.message
          : String(error)
      return { outcome: 'retry', afterMs: undefined, reason }
    }
    const answer = new Uint8Array(await response.arrayBuffer().catch(() => new ArrayBuffer(0)))
    const answerEncoding: OtlpEncoding = (response.headers.get('content-type') ?? '').includes('json')
      ? 'json'
      : 'protobuf'
    if (response.ok) {
      const decoded = answer.byteLength === 0 ? undefined : decodeTraceResponse(answer, answerEncoding)
      const partial = decoded?.ok ? decoded.value.partialSuccess : undefined
      return { outcome: 'sent', rejected: Number(partial?.rejectedSpans ?? 0), message: partial?.errorMessage }
    }
    const status = decodeStatus(answer, answerEncoding)
    const reason = `HTTP ${response.status}${status?.message ? `: ${status.message.slice(0, 200)}` : ''}`
    if (retryableStatuses.has(response.status)) {
      return { outcome: 'retry', afterMs: retryAfterMs(response.headers.get('retry-after')), reason }
    }
    return { outcome: 'refused', reason }
  }

  /** A pause between retries that close() cuts short. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = setTimeout(done, ms)
      function done() {
        clearTimeout(wake)
        stop.signal.removeEventListener('abort', done)
        resolve()
      }
      stop.signal.addEventListener('abort', done)
    })

  /** One request body, retried until it is taken, refused, or out of time (its batch's, or close()'s). */
  const deliver = async (body: Uint8Array, spans: number): Promise<void> => {
    const batchDeadline = Date.now() + limits.exportTimeoutMs
    const until = () => Math.min(batchDeadline, closing?.deadline ?? Number.POSITIVE_INFINITY)
    let backoff = firstRetryMs
    let reason = 'out of time'
    while (Date.now() < until()) {
      const result = await attempt(body, until())
      if (result.outcome === 'sent') {
        counts.sent += spans - result.rejected
        if (result.rejected > 0 || result.message) {
          counts.rejected += result.rejected
          warnLimited(
            'partial',
            'the OTLP endpoint rejected some spans',
            { rejected: result.rejected, reason: result.message?.slice(0, 200) },
            result.rejected,
          )
        }
        return
      }
      if (result.outcome === 'refused') {
        counts.failed += spans
        warnLimited('refused', 'the OTLP endpoint refused spans', { reason: result.reason }, spans)
        return
      }
      reason = result.reason
      // Jitter keeps several pods that lost the same collector from coming back in step.
      let wait = result.afterMs
      if (wait === undefined) {
        wait = backoff * (0.8 + Math.random() * 0.4)
        backoff = Math.min(backoff * 2, maxRetryMs)
      }
      if (Date.now() + wait >= until()) break
      await pause(wait)
    }
    counts.failed += spans
    warnLimited('unreachable', 'cannot send spans to the OTLP endpoint', { reason }, spans)
  }

  const run = async () => {
    while (queue.length > 0) {
      if (closing && Date.now() >= closing.deadline) break
      // Between schedules, send only full batches; close() and the timer send what there is.
      if (!closing && !flushDue && queuedSpans < limits.maxExportBatchSize) break
      flushDue = false
      const batch = takeBatch()
      let parts: { body: Uint8Array; spans: number }[]
      try {
        parts = encode(batch)
      } catch (error) {
        const spans = spansIn(batch)
        counts.failed += spans
        log.error('could not encode spans for OTLP', { error, spans })
        continue
      }
      for (const part of parts) await deliver(part.body, part.spans)
    }
  }

  const pump = () => {
    if (running) return
    running = run().finally(() => {
      running = undefined
      if (closing) return
      if (queuedSpans >= limits.maxExportBatchSize) pump()
      else if (queue.length > 0) schedule()
    })
  }

  const schedule = () => {
    if (timer !== undefined || closing) return
    timer = setTimeout(() => {
      timer = undefined
      flushDue = true
      pump()
    }, limits.scheduleDelayMs)
    timer.unref?.()
  }

  return {
    export(documents) {
      if (closed || closing) {
        for (const document of documents) counts.dropped += spanCount(document)
        return
      }
      let dropped = 0
      for (const document of documents) {
        const spans = spanCount(document)
        if (queuedSpans + spans > limits.maxQueueSize) {
          dropped += spans
          continue
        }
        queue.push({ document, spans })
        queuedSpans += spans
      }
      if (dropped > 0) {
        counts.dropped += dropped
        warnLimited(
          'queue',
          'the OTLP span queue is full; dropping spans',
          { maxQueueSize: limits.maxQueueSize },
          dropped,
        )
      }
      if (queuedSpans >= limits.maxExportBatchSize) pump()
      else if (queue.length > 0) schedule()
    },
    async close() {
      if (closed) return
      closing = { deadline: Date.now() + closeTimeoutMs }
      clearTimeout(timer)
      timer = undefined
      const giveUp = setTimeout(() => stop.abort(), closeTimeoutMs)
      await running
      pump()
      await running
      clearTimeout(giveUp)
      closed = true
      if (queuedSpans > 0) {
        counts.dropped += queuedSpans
        log.warn('closing with spans not sent to the OTLP endpoint', { endpoint, spansLost: queuedSpans, ...counts })
        queue = []
        queuedSpans = 0
      }
    },
    stats: () => ({ ...counts, queued: queuedSpans }),
  }
}
