import { writeFileSync } from 'node:fs'
import type { HostPort, Logger } from '../platform'
import { type Collector, createCollector } from './collector'
import { buildServiceGraph } from './graph'
import type { ReceivedMail } from './mail-sink'
import page from './page.html' with { type: 'text' }

export interface LocalRules {
  readonly version: 2
  readonly rules?: readonly {
    host: string
    http_method: string
    url_path: string
    fixed_target: number
    rate: number
  }[]
  readonly default: { readonly fixed_target: number; readonly rate: number }
}

export interface ConsoleOptions {
  /** Where segments arrive, as the daemon's UDP address. @default 127.0.0.1:2000 */
  readonly udp: HostPort
  /** The page, the JSON API and the sampling endpoints, as the daemon's TCP address. @default 127.0.0.1:2000 */
  readonly http: HostPort
  /** Send every datagram on, unchanged, to a real daemon. */
  readonly forward?: HostPort | undefined
  readonly maxTraces?: number | undefined
  /** Where POST /api/save writes every trace kept. */
  readonly saveFile?: string | undefined
  /** What GetSamplingRules serves. @default the SDK default: 1 a second, then 5% */
  readonly samplingRules?: LocalRules | undefined
  /** The dev mailbox, shown on the page's Mail tab. */
  readonly mail?: () => readonly ReceivedMail[]
  readonly log: Logger
}

export interface RunningConsole {
  readonly url: string
  readonly udpPort: number
  readonly collector: Collector
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

function centralizedRules(rules: LocalRules, created: number) {
  const record = (
    name: string,
    priority: number,
    r: { host?: string; http_method?: string; url_path?: string; fixed_target: number; rate: number },
  ) => ({
    SamplingRule: {
      RuleName: name,
      RuleARN: `arn:aws:xray:local:000000000000:sampling-rule/${name}`,
      ResourceARN: '*',
      Priority: priority,
      FixedRate: r.rate,
      ReservoirSize: r.fixed_target,
      ServiceName: '*',
      ServiceType: '*',
      Host: r.host ?? '*',
      HTTPMethod: r.http_method ?? '*',
      URLPath: r.url_path ?? '*',
      Version: 1,
      Attributes: {},
    },
    CreatedAt: created,
    ModifiedAt: created,
  })
  return [
    ...(rules.rules ?? []).map((r, i) => record(`local-${i + 1}`, i + 1, r)),
    record('Default', 10000, rules.default),
  ]
}

/** `./app console`: a stand-in for the X-Ray daemon (UDP in, sampling endpoints) and a small X-Ray console. */
export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const { log } = options
  const collector = createCollector({ maxTraces: options.maxTraces })
  const created = Math.floor(Date.now() / 1000)
  const rules = options.samplingRules ?? { version: 2, rules: [], default: { fixed_target: 1, rate: 0.05 } }
  const records = centralizedRules(rules, created)
  let lastRejectLog = 0

  const forward = options.forward
    ? await Bun.udpSocket({ connect: { hostname: options.forward.host, port: options.forward.port } })
    : undefined
  const udp = await Bun.udpSocket({
    hostname: options.udp.host,
    port: options.udp.port,
    socket: {
      data(_socket, data) {
        if (forward) {
          try {
            forward.send(data)
          } catch {
            // The real daemon being away must not stop the local console.
          }
        }
        const result = collector.ingest(data)
        if (!result.ok && Date.now() - lastRejectLog > 10_000) {
          lastRejectLog = Date.now()
          log.warn('rejected a datagram', { reason: result.reason, counts: collector.stats().rejected })
        }
      },
    },
  })

  const json = (value: unknown, status = 200) => Response.json(value, { status })
  const server = Bun.serve({
    hostname: options.http.host,
    port: options.http.port,
    development: false,
    routes: {
      '/': () => new Response(page as unknown as string, { headers: { 'content-type': 'text/html;charset=utf-8' } }),
      '/api/traces': (request) => {
        const url = new URL(request.url)
        const service = url.searchParams.get('service')
        const summaries = collector.traces().map((trace) => {
          const docs = [...trace.documents.values()]
          const segments = docs.filter((d) => d.type !== 'subsegment')
          const root = segments.find((s) => s.parent_id === undefined) ?? segments[0]
          const start = Math.min(...docs.map((d) => d.start_time))
          const end = Math.max(...docs.map((d) => d.end_time ?? d.start_time))
          return {
            id: trace.id,
            services: [...new Set(segments.map((s) => s.name))],
            method: root?.http?.request?.['method'] ?? null,
            url: root?.http?.request?.['url'] ?? null,
            status: root?.http?.response?.status ?? null,
            durationMs: Math.round((end - start) * 100_000) / 100,
            documents: docs.length,
            startTime: start,
          }
        })
        return json(service ? summaries.filter((t) => t.services.includes(service)) : summaries)
      },
      '/api/traces/:id': (request) => {
        const trace = collector.trace(request.params.id)
        return trace
          ? json({ id: trace.id, documents: [...trace.documents.values()] })
          : json({ error: 'no such trace' }, 404)
      },
      '/api/service-graph': () => json(buildServiceGraph(collector.traces())),
      '/api/mail': () => json(options.mail?.() ?? []),
      '/api/stats': () => json(collector.stats()),
      '/api/save': {
        POST: () => {
          if (!options.saveFile) return json({ error: 'start the console with --save FILE' }, 409)
          const traces = collector.traces().map((t) => ({ id: t.id, documents: [...t.documents.values()] }))
          writeFileSync(options.saveFile, JSON.stringify(traces, null, 2))
          return json({ saved: traces.length, file: options.saveFile })
        },
      },
      // The daemon's sampling proxy endpoints, as the SDKs call them (xray-on-bun.md 2.3).
      '/GetSamplingRules': { POST: () => json({ SamplingRuleRecords: records, NextToken: null }) },
      '/SamplingTargets': {
        POST: async (request) => {
          const body = (await request.json().catch(() => ({}))) as {
            SamplingStatisticsDocuments?: { RuleName?: string }[]
          }
          const now = Math.floor(Date.now() / 1000)
          const targets = (body.SamplingStatisticsDocuments ?? []).flatMap((doc) => {
            const rule = records.find((r) => r.SamplingRule.RuleName === doc.RuleName)
            return rule
              ? [
                  {
                    RuleName: rule.SamplingRule.RuleName,
                    FixedRate: rule.SamplingRule.FixedRate,
                    ReservoirQuota: rule.SamplingRule.ReservoirSize,
                    ReservoirQuotaTTL: now + 10,
                    Interval: 10,
                  },
                ]
              : []
          })
          return json({ SamplingTargetDocuments: targets, LastRuleModification: created, UnprocessedStatistics: [] })
        },
      },
    },
    fetch: () => json({ error: 'not found' }, 404),
  })
  const url = `http://${options.http.host}:${server.port}`
  log.info('x-ray console listening', { page: url, udp: `${options.udp.host}:${udp.port}`, forward: options.forward })
  const stop = async () => {
    udp.close()
    forward?.close()
    await server.stop(true)
  }
  return { url, udpPort: udp.port, collector, stop, [Symbol.asyncDispose]: stop }
}
