import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDev } from '../dev'
import { captureLog, isSampled, startFakeDaemon, waitUntil } from '../testing'
import { createTracer } from '../xray'
import { type RunningConsole, startConsole } from '.'

type Graph = {
  nodes: { name: string; type: string; requests: number }[]
  edges: {
    source: string
    target: string
    requests: number
    errorRate: number
    faultRate: number
    averageMs: number
    p95Ms: number
  }[]
}

async function graphOf(url: string): Promise<Graph> {
  return (await fetch(`${url}/api/service-graph`)).json() as Promise<Graph>
}

const edge = (g: Graph, source: string, target: string) =>
  g.edges.find((e) => e.source === source && e.target === target)

describe('the console fed by ./app dev', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'console-dev-'))
  let dev: Awaited<ReturnType<typeof startDev>>
  beforeAll(async () => {
    dev = await startDev(
      { logLevel: 'error', usermgmtPort: 0, notificationPort: 0, smtpPort: 0, daemonPort: 0, dataDir },
      captureLog('error').log,
      '0.0.0',
    )
    await waitUntil(async () => expect((await fetch(`${dev.usermgmtUrl}/usermgmt/health/readiness`)).status).toBe(200))
  })
  afterAll(async () => {
    await dev.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  test('draws client -> User-Management -> V1-Notification, the database and the mail, with the counts that were sent', async () => {
    const before = await graphOf(dev.consoleUrl)
    const sent = (source: string, target: string) => edge(before, source, target)?.requests ?? 0
    const base = {
      client: sent('client', 'User-Management-Microservice'),
      call: sent('User-Management-Microservice', 'V1-Notification-Microservice'),
    }
    for (let i = 0; i < 3; i++) expect((await fetch(`${dev.usermgmtUrl}/usermgmt/notification-xray`)).status).toBe(200)
    const user = {
      username: 'mapuser',
      email: 'map@example.com',
      role: 'ROLE_USER',
      enabled: true,
      firstname: 'Map',
      lastname: 'User',
      password: 'Passw0rd!',
    }
    expect(
      (await fetch(`${dev.usermgmtUrl}/usermgmt/user`, { method: 'POST', body: JSON.stringify(user) })).status,
    ).toBe(200)
    expect((await fetch(`${dev.usermgmtUrl}/usermgmt/user/nobody`)).status).toBe(404)
    const graph = await waitUntil(async () => {
      const g = await graphOf(dev.consoleUrl)
      expect(edge(g, 'client', 'User-Management-Microservice')?.requests).toBe(base.client + 5)
      // 3 notification-xray calls plus the outbox's delivery of the account mail.
      expect(edge(g, 'User-Management-Microservice', 'V1-Notification-Microservice')?.requests).toBe(base.call + 4)
      expect(g.nodes.find((n) => n.name === '127.0.0.1' && n.type === 'mail')).toBeDefined()
      return g
    })
    expect(graph.nodes.find((n) => n.name === 'client')?.type).toBe('client')
    expect(graph.nodes.find((n) => n.name === 'usermgmt.sqlite@localhost')?.type).toBe('database')
    const fromClient = edge(graph, 'client', 'User-Management-Microservice')
    // One 404 out of the requests the client sent.
    expect(fromClient?.errorRate).toBe(Math.round((1 / (base.client + 5)) * 100) / 100)
    expect(fromClient?.faultRate).toBe(0)
    expect(fromClient?.p95Ms).toBeGreaterThanOrEqual(fromClient?.averageMs ? 0 : 0)
    const mail = (await (await fetch(`${dev.consoleUrl}/api/mail`)).json()) as { to: string; subject: string }[]
    expect(mail.some((m) => m.to === 'map@example.com' && m.subject === 'Stack Simplify account creation.')).toBe(true)
    const traces = (await (
      await fetch(`${dev.consoleUrl}/api/traces?service=V1-Notification-Microservice`)
    ).json()) as { id: string; services: string[] }[]
    expect(traces.length).toBeGreaterThanOrEqual(4)
    const one = (await (await fetch(`${dev.consoleUrl}/api/traces/${traces[0]?.id}`)).json()) as {
      documents: { name: string }[]
    }
    expect(one.documents.map((d) => d.name)).toContain('V1-Notification-Microservice')
    expect((await fetch(dev.consoleUrl)).headers.get('content-type')).toStartWith('text/html')
  })
})

test('forwards every datagram unchanged to a real daemon, and saves the traces it keeps on request', async () => {
  using daemon = await startFakeDaemon()
  const file = join(mkdtempSync(join(tmpdir(), 'console-save-')), 'traces.json')
  await using forwarding = await startConsole({
    udp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    forward: { host: '127.0.0.1', port: daemon.port },
    saveFile: file,
    log: captureLog().log,
  })
  const datagram =
    '{"format":"json","version":1}\n{"trace_id":"1-6b000000-cccccccccccccccccccccccc","id":"cccccccccccccccc","name":"Fwd","start_time":1,"end_time":2}'
  const socket = await Bun.udpSocket({})
  socket.send(datagram, forwarding.udpPort, '127.0.0.1')
  socket.close()
  await daemon.waitFor((docs) => docs.length === 1)
  expect(daemon.datagrams[0]?.raw).toBe(datagram)
  await waitUntil(async () => expect(forwarding.collector.stats().accepted).toBe(1))
  const saved = await fetch(`${forwarding.url}/api/save`, { method: 'POST' })
  expect(await saved.json()).toEqual({ saved: 1, file })
  expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject([{ id: '1-6b000000-cccccccccccccccccccccccc' }])
})

describe('the console as a daemon stand-in', () => {
  let xray: RunningConsole
  const send = async (text: string | Uint8Array) => {
    const socket = await Bun.udpSocket({})
    socket.send(text, xray.udpPort, '127.0.0.1')
    socket.close()
  }
  const header = '{"format":"json","version":1}\n'
  beforeAll(async () => {
    xray = await startConsole({
      udp: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      maxTraces: 50,
      samplingRules: {
        version: 2,
        rules: [{ host: '*', http_method: '*', url_path: '/yes/*', fixed_target: 0, rate: 1 }],
        default: { fixed_target: 0, rate: 0 },
      },
      log: captureLog().log,
    })
  })
  afterAll(() => xray.stop())

  test('joins a subsegment sent before its segment, and an in-progress segment replaced by the complete one', async () => {
    const trace = '1-6b000000-aaaaaaaaaaaaaaaaaaaaaaaa'
    await send(
      header +
        JSON.stringify({
          type: 'subsegment',
          trace_id: trace,
          id: 'bbbbbbbbbbbbbbbb',
          parent_id: 'aaaaaaaaaaaaaaaa',
          name: 'db@host',
          namespace: 'remote',
          sql: { url: 'x' },
          start_time: 1,
          end_time: 1.01,
        }),
    )
    await send(
      header +
        JSON.stringify({ trace_id: trace, id: 'aaaaaaaaaaaaaaaa', name: 'Svc', start_time: 1, in_progress: true }),
    )
    await send(
      header + JSON.stringify({ trace_id: trace, id: 'aaaaaaaaaaaaaaaa', name: 'Svc', start_time: 1, end_time: 1.05 }),
    )
    await send(
      header +
        JSON.stringify({ trace_id: trace, id: 'aaaaaaaaaaaaaaaa', name: 'Svc', start_time: 1, in_progress: true }),
    )
    const graph = await waitUntil(async () => {
      const g = await graphOf(xray.url)
      expect(edge(g, 'Svc', 'db@host')?.requests).toBe(1)
      return g
    })
    expect(edge(graph, 'client', 'Svc')).toMatchObject({ requests: 1, averageMs: 50 })
    const stored = (await (await fetch(`${xray.url}/api/traces/${trace}`)).json()) as {
      documents: { id: string; end_time?: number }[]
    }
    expect(stored.documents.find((d) => d.id === 'aaaaaaaaaaaaaaaa')?.end_time).toBe(1.05)
  })

  test('counts malformed datagrams without failing, and keeps memory flat under a flood', async () => {
    const before = ((await (await fetch(`${xray.url}/api/stats`)).json()) as { rejected: Record<string, number> })
      .rejected
    await send('no header at all')
    await send(`${header}{not json`)
    await send(`${header}${JSON.stringify({ trace_id: 'nope', id: 'x', name: 5, start_time: 'soon' })}`)
    await send(`{"format":"xml","version":1}\n{}`)
    const stats = await waitUntil(async () => {
      const s = (await (await fetch(`${xray.url}/api/stats`)).json()) as { rejected: Record<string, number> }
      expect(s.rejected['bad_header']).toBe((before['bad_header'] ?? 0) + 2)
      return s
    })
    expect(stats.rejected['bad_json']).toBe((before['bad_json'] ?? 0) + 1)
    expect(stats.rejected['bad_document']).toBe((before['bad_document'] ?? 0) + 1)

    const socket = await Bun.udpSocket({})
    Bun.gc(true)
    const rssBefore = process.memoryUsage().rss
    for (let round = 0; round < 40; round++) {
      const packets: (string | number)[] = []
      for (let i = 0; i < 250; i++) {
        const n = round * 250 + i
        const trace = `1-6b000000-${n.toString(16).padStart(24, '0')}`
        packets.push(
          header +
            JSON.stringify({
              trace_id: trace,
              id: n.toString(16).padStart(16, '0'),
              name: 'Flood',
              start_time: 1,
              end_time: 2,
            }),
          xray.udpPort,
          '127.0.0.1',
        )
      }
      socket.sendMany(packets)
      await Bun.sleep(2)
    }
    socket.close()
    await Bun.sleep(200)
    Bun.gc(true)
    const after = (await (await fetch(`${xray.url}/api/stats`)).json()) as { traces: number; evicted: number }
    expect(after.traces).toBeLessThanOrEqual(50)
    expect(after.evicted).toBeGreaterThan(1000)
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024)
  })

  test('answers GetSamplingRules and SamplingTargets as the SDK calls them', async () => {
    const port = Number(new URL(xray.url).port)
    const tracer = createTracer({
      config: {
        enabled: true,
        tracingName: 'Sampled-By-Console',
        daemonUdp: { host: '127.0.0.1', port: xray.udpPort },
        daemonTcp: { host: '127.0.0.1', port },
        contextMissing: 'LOG_ERROR',
        collectSqlQueries: false,
        samplingRulesFile: undefined,
      },
      log: captureLog().log,
      samplingRules: { version: 2, rules: [], default: { fixed_target: 0, rate: 0 } },
      centralizedSampling: true,
    })
    const sampled = (path: string) => isSampled(tracer, path)
    await waitUntil(async () => expect(await sampled('/yes/please')).toBe(true), 10_000, 50)
    expect(await sampled('/no')).toBe(false)
    const targets = await fetch(`${xray.url}/SamplingTargets`, {
      method: 'POST',
      body: JSON.stringify({
        SamplingStatisticsDocuments: [
          {
            RuleName: 'local-1',
            ClientID: 'c'.repeat(24),
            RequestCount: 3,
            BorrowCount: 0,
            SampledCount: 3,
            Timestamp: 1,
          },
        ],
      }),
    })
    const body = (await targets.json()) as {
      SamplingTargetDocuments: { RuleName: string; FixedRate: number }[]
      LastRuleModification: number
    }
    expect(body.SamplingTargetDocuments).toMatchObject([{ RuleName: 'local-1', FixedRate: 1 }])
    expect(typeof body.LastRuleModification).toBe('number')
    await tracer.close()
  })
})
