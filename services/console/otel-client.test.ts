// A real OpenTelemetry client, nobody's code here: a Node.js process with the official SDK and OTLP exporter
// (otel-client-fixture.mjs) sends its spans to ./app dev's console, and calls usermgmt with a traceparent.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDev } from '../dev'
import { captureLog, waitUntil } from '../testing'

const dataDir = mkdtempSync(join(tmpdir(), 'otel-client-'))
let dev: Awaited<ReturnType<typeof startDev>>
beforeAll(async () => {
  dev = await startDev(
    {
      logLevel: 'error',
      usermgmtPort: 0,
      notificationPort: 0,
      smtpPort: 0,
      daemonPort: 0,
      otlpPort: 0,
      exporters: ['otlp'],
      dataDir,
    },
    captureLog('error').log,
    '0.0.0',
  )
  await waitUntil(async () => expect((await fetch(`${dev.usermgmtUrl}/usermgmt/health/readiness`)).status).toBe(200))
})
afterAll(async () => {
  await dev.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

interface ClientRun {
  readonly traceId: string
  readonly server: string
  readonly client: string
  readonly traceparent: string
  readonly status: number
  readonly results: { code: number; error?: string }[]
}

/** Runs the Node.js client once (node, not bun) and returns what it reports. */
async function runClient(protocol: 'http/protobuf' | 'http/json'): Promise<ClientRun> {
  const fixture = join(import.meta.dir, 'otel-client-fixture.mjs')
  const target = `${dev.usermgmtUrl}/usermgmt/notification-xray`
  const child = Bun.spawn(['node', fixture, `${dev.otlpUrl}/v1/traces`, protocol, target], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ])
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
  return JSON.parse(stdout) as ClientRun
}

type Trace = {
  services: string[]
  spans: {
    id: string
    name: string
    kind: 'segment' | 'subsegment'
    parentId: string | null
    document: { http?: { request?: { method?: string; url?: string }; response?: { status?: number } } }
  }[]
}

const xrayId = (traceId: string) => `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`
const trace = async (traceId: string) => {
  const response = await fetch(`${dev.consoleUrl}/api/traces/${xrayId(traceId)}`)
  expect(response.status).toBe(200)
  return (await response.json()) as Trace
}

describe('a Node.js app with the official OpenTelemetry SDK', () => {
  for (const protocol of ['http/protobuf', 'http/json'] as const) {
    test(`exports ${protocol} to the console, which takes every export and shows its spans`, async () => {
      const run = await runClient(protocol)
      expect(run.status).toBe(200)
      expect(run.results).toEqual([{ code: 0 }])
      expect(run.traceparent).toBe(`00-${run.traceId}-${run.client}-01`)
      const shown = await waitUntil(async () => {
        const current = await trace(run.traceId)
        expect(current.spans.map((s) => s.id)).toContain(run.client)
        return current
      })
      const server = shown.spans.find((s) => s.id === run.server)
      const client = shown.spans.find((s) => s.id === run.client)
      // Named as X-Ray names them: the SERVER span by its service.name, the call by its span name.
      expect(server).toMatchObject({ name: 'checkout', kind: 'segment', parentId: null })
      expect(client).toMatchObject({ name: 'GET', kind: 'subsegment', parentId: run.server })
      expect(client?.document.http).toEqual({
        request: { method: 'GET', url: `${dev.usermgmtUrl}/usermgmt/notification-xray` },
        response: { status: 200 },
      })
      const stats = (await (await fetch(`${dev.consoleUrl}/api/stats`)).json()) as {
        otlp: { refused: Record<string, number>; spans: { rejected: number } }
      }
      expect(Object.values(stats.otlp.refused).every((n) => n === 0)).toBe(true)
      expect(stats.otlp.spans.rejected).toBe(0)
    })
  }

  test('calls usermgmt with traceparent, which continues its trace: one trace, four services on the map', async () => {
    const run = await runClient('http/protobuf')
    const um = 'User-Management-Microservice'
    const notification = 'V1-Notification-Microservice'
    const joined = await waitUntil(async () => {
      const current = await trace(run.traceId)
      expect(current.services).toEqual(['checkout', um, notification])
      return current
    })
    expect(joined.spans.find((s) => s.name === um)).toMatchObject({ kind: 'segment', parentId: run.client })
    const graph = (await (await fetch(`${dev.consoleUrl}/api/service-graph`)).json()) as {
      nodes: { name: string }[]
      edges: { source: string; target: string }[]
    }
    for (const [source, target] of [
      ['client', 'checkout'],
      ['checkout', um],
      [um, notification],
    ]) {
      expect(graph.edges).toContainEqual(expect.objectContaining({ source, target }))
    }
    expect(graph.nodes.map((n) => n.name)).toEqual(expect.arrayContaining(['checkout', um, notification]))
  })
})
