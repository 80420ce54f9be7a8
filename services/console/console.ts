import { createSocket } from 'node:dgram'
import { renameSync, writeFileSync } from 'node:fs'
import { isIPv6 } from 'node:net'
import { type HostPort, hostForUrl, type Logger } from '../platform'
import { defaultSamplingRules, type SamplingRules } from '../xray'

import { type Collector, createCollector } from './collector'
import type { Entity } from './document'
import { buildServiceGraph } from './graph'
import type { ReceivedMail } from './mail-sink'
import { createOtlpReceiver, defaultMaxOtlpBodyBytes, type OtlpReceiver } from './otlp-receiver'
import page from './page.html' with { type: 'text' }
import { createSamplingService } from './sampling'
import { type AssembledTrace, assembleTrace, type TraceSummary } from './trace'

export interface ConsoleOptions {
  /** Where segments arrive, as the daemon's UDP address. @default 127.0.0.1:2000 */
  readonly udp: HostPort
  /** The page, the JSON API and the sampling endpoints, as the daemon's TCP address. @default 127.0.0.1:2000 */
  readonly http: HostPort
  /** Send every datagram on, unchanged, to a real daemon. */
  readonly forward?: HostPort | undefined
  /** Where OTLP/HTTP arrives (POST /v1/traces). @default none: no OTLP listener */
  readonly otlp?: HostPort | undefined
  /** Traces kept, oldest dropped first. @default 1000 */
  readonly maxTraces?: number | undefined
  /** JSON bytes of documents kept in all, oldest traces dropped first. @default 64 MiB */
  readonly maxBytes?: number | undefined
  /** Where POST /api/save writes every trace kept. */
  readonly saveFile?: string | undefined
  /** What GetSamplingRules serves. @default the tracing layer's defaults: 1 a second then 5%, never health checks */
  readonly samplingRules?: SamplingRules | undefined
  /** The dev mailbox, shown on the page's Mail tab. */
  readonly mail?: (() => readonly ReceivedMail[]) | undefined
  readonly log: Logger
}

export interface RunningConsole {
  /** The page; the API is under /api. */
  readonly url: string
  readonly udpPort: number
  /** The OTLP/HTTP base URL (spans go to …/v1/traces), when the console takes OTLP. */
  readonly otlpUrl: string | undefined
  readonly collector: Collector
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export interface TraceFilter {
  readonly service?: string | undefined
  /** Part of the root request's URL. */
  readonly url?: string | undefined
  readonly status?: number | undefined
  readonly minMs?: number | undefined
  readonly maxMs?: number | undefined
}

/**
 * What the console serves as centralized rules when given none: the SDK's default, and never the health checks of
 * the course's two roles, which their own local rules skip too.
 */
const consoleSamplingRules: SamplingRules = {
  ...defaultSamplingRules,
  rules: ['/usermgmt/health*', '/notification/health*'].map((url_path) => ({
    description: 'Health checks: polled every 10-15 s by the ALB and the kubelet',
    host: '*',
    http_method: '*',
    url_path,
    fixed_target: 0,
    rate: 0,
  })),
}

/** Asked of the kernel, which caps it at net.core.rmem_max. */
const receiveBuffer = 4 * 1024 * 1024

function matches(summary: TraceSummary, filter: TraceFilter): boolean {
  if (filter.service !== undefined && !summary.services.includes(filter.service)) return false
  if (filter.url !== undefined && !(summary.url ?? '').includes(filter.url)) return false
  if (filter.status !== undefined && summary.status !== filter.status) return false
  if (filter.minMs !== undefined && summary.durationMs < filter.minMs) return false
  if (filter.maxMs !== undefined && summary.durationMs > filter.maxMs) return false
  return true
}

function numberParam(params: URLSearchParams, name: string): number | undefined | null {
  const text = params.get(name)
  if (text === null || text === '') return undefined
  const value = Number(text)
  return Number.isFinite(value) ? value : null
}

/** A span for the API: the entity's own fields without its nested subsegments (they are spans of their own). */
function spanView({ entity, ...span }: AssembledTrace['spans'][number]) {
  const { subsegments: _nested, ...fields } = entity as Entity & { subsegments?: unknown }
  return { ...span, document: fields }
}

/**
 * `./app console`: a stand-in for the X-Ray daemon (UDP in, sampling endpoints) and a small X-Ray console, which
 * also takes OTLP/HTTP when given an address for it.
 */
export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const { log } = options
  const collector = createCollector({ maxTraces: options.maxTraces, maxBytes: options.maxBytes })
  const sampling = createSamplingService(options.samplingRules ?? consoleSamplingRules)
  const forwarding = { sent: 0, failed: 0 }
  let lastRejectLog = 0

  const forward = options.forward
    ? await Bun.udpSocket({ connect: { hostname: options.forward.host, port: options.forward.port } })
    : undefined
  const receive = (data: Uint8Array) => {
    if (forward) {
      try {
        if (forward.send(data)) forwarding.sent++
        else forwarding.failed++
      } catch {
        // The real daemon being away (ICMP refused) must not stop the local console.
        forwarding.failed++
      }
    }
    const result = collector.ingest(data)
    if (!result.ok && Date.now() - lastRejectLog > 10_000) {
      lastRejectLog = Date.now()
      log.warn('rejected a datagram (counts in /api/stats)', {
        reason: result.reason,
        rejected: collector.stats().rejected,
      })
    }
  }
  // node:dgram rather than Bun.udpSocket for its receive buffer: at the kernel's default (208 KiB) a burst of a
  // hundred 1.5 KB segments already overflows it, and the kernel drops what does not fit.
  const udp = createSocket({ type: isIPv6(options.udp.host) ? 'udp6' : 'udp4', recvBufferSize: receiveBuffer })
  udp.on('message', receive)
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject)
    udp.bind(options.udp.port, options.udp.host, () => {
      udp.off('error', reject)
      resolve()
    })
  })
  udp.on('error', (error) => log.warn('udp socket error', { error }))
  const udpPort = udp.address().port

  let otlp: ReturnType<typeof startOtlpListener> | undefined
  try {
    otlp = options.otlp ? startOtlpListener(options.otlp, createOtlpReceiver({ collector, log }), log) : undefined
  } catch (error) {
    udp.close()
    forward?.close()
    throw error
  }

  const json = (value: unknown, status = 200) => Response.json(value, { status })
  const assembled = () => collector.traces().map(assembleTrace)
  const server = Bun.serve({
    hostname: options.http.host,
    port: options.http.port,
    development: false,
    routes: {
      // Imported as text (bun-types calls every .html an HTML bundle).
      '/': new Response(String(page), { headers: { 'content-type': 'text/html;charset=utf-8' } }),
      '/api/traces': (request) => {
        const params = new URL(request.url).searchParams
        const numbers = { status: numberParam(params, 'status'), minMs: numberParam(params, 'minMs') }
        const maxMs = numberParam(params, 'maxMs')
        if (numbers.status === null || numbers.minMs === null || maxMs === null)
          return json({ error: 'status, minMs and maxMs must be numbers' }, 400)
        const filter = {
          service: params.get('service') || undefined,
          url: params.get('url') || undefined,
          status: numbers.status,
          minMs: numbers.minMs,
          maxMs,
        }
        const summaries = assembled()
          .map((t) => t.summary)
          .filter((s) => matches(s, filter))
          .sort((a, b) => b.startTime - a.startTime)
        return json(summaries)
      },
      '/api/traces/:id': (request) => {
        const trace = collector.trace(request.params.id)
        if (!trace) return json({ error: 'no such trace' }, 404)
        const { summary, spans } = assembleTrace(trace)
        return json({ ...summary, spans: spans.map(spanView), documents: [...trace.documents.values()] })
      },
      '/api/service-graph': () => json(buildServiceGraph(assembled())),
      '/api/mail': () => json(options.mail ? [...options.mail()].reverse() : []),
      '/api/stats': () => {
        const memory = process.memoryUsage()
        return json({
          ...collector.stats(),
          forwarded: options.forward ? forwarding : null,
          otlp: otlp ? otlp.receiver.stats() : null,
          saveFile: options.saveFile ?? null,
          memory: { rss: memory.rss, heapUsed: memory.heapUsed },
        })
      },
      '/api/save': {
        POST: () => {
          const file = options.saveFile
          if (!file) return json({ error: 'start the console with --save FILE to save traces' }, 409)
          const traces = collector.traces().map((t) => ({ id: t.id, documents: [...t.documents.values()] }))
          try {
            writeFileSync(`${file}.tmp`, JSON.stringify(traces, null, 2))
            renameSync(`${file}.tmp`, file)
          } catch (error) {
            log.error('could not save traces', { file, error })
            return json({ error: `could not write ${file}` }, 500)
          }
          return json({ saved: traces.length, file })
        },
      },
      '/GetSamplingRules': { POST: () => json(sampling.getSamplingRules()) },
      '/SamplingTargets': {
        POST: async (request) => {
          const answer = sampling.samplingTargets(await request.json().catch(() => undefined))
          return answer
            ? json(answer)
            : json({ __type: 'InvalidRequestException', Message: 'expected SamplingStatisticsDocuments' }, 400)
        },
      },
    },
    fetch: () => json({ error: 'not found' }, 404),
    error: (error) => {
      log.error('console request failed', { error })
      return json({ error: 'internal error' }, 500)
    },
  })
  const url = urlOf(options.http, server.port ?? options.http.port)
  log.info('x-ray console listening', {
    page: url,
    udp: `${options.udp.host}:${udpPort}`,
    otlp: otlp?.url,
    forward: options.forward ? `${options.forward.host}:${options.forward.port}` : undefined,
  })
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      await new Promise<void>((resolve) => udp.close(() => resolve()))
      forward?.close()
      await Promise.all([server.stop(true), otlp?.server.stop(true)])
    })()
    return stopping
  }
  return { url, udpPort, otlpUrl: otlp?.url, collector, stop, [Symbol.asyncDispose]: stop }
}

function urlOf(address: HostPort, port: number): string {
  return `http://${hostForUrl(address.host)}:${port}`
}

/** The OTLP/HTTP port: its own server, as collectors and SDKs expect it on 4318 beside the page. */
function startOtlpListener(address: HostPort, receiver: OtlpReceiver, log: Logger) {
  let server: ReturnType<typeof serveOtlp>
  try {
    server = serveOtlp(address, receiver, log)
  } catch (error) {
    // Says which of the console's listeners failed, so that ./app dev can name the variable that moves it.
    throw Object.assign(new Error(`OTLP port ${address.port}: ${error instanceof Error ? error.message : error}`), {
      code: (error as { code?: unknown } | null)?.code,
      listener: 'otlp',
    })
  }
  return { server, receiver, url: urlOf(address, server.port ?? address.port) }
}

function serveOtlp(address: HostPort, receiver: OtlpReceiver, log: Logger) {
  return Bun.serve({
    hostname: address.host,
    port: address.port,
    development: false,
    // The receiver reads bodies up to its own limit and answers 413 itself; this only stops a body far beyond it.
    maxRequestBodySize: defaultMaxOtlpBodyBytes + 1024 * 1024,
    fetch: (request) => receiver.handle(request),
    error: (error) => {
      log.error('OTLP request failed', { error })
      return Response.json({ message: 'internal error' }, { status: 500 })
    },
  })
}
