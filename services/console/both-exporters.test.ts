// The compiled binary, both roles, configured as a user would: OTEL_TRACES_EXPORTER=xray,otlp sends every trace to
// an X-Ray daemon (a console taking UDP) and to an OTLP collector (a second console taking OTLP/HTTP). Both see
// the same traces, by id, and draw the same map, to the microsecond.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import {
  type AppProcess,
  captureLog,
  createTestDatabase,
  sampleEverythingRulesFile,
  spawnApp,
  type TestDatabase,
  waitUntil,
} from '../testing'
import { traceEverything } from '../xray'
import { type MailSink, type RunningConsole, startConsole, startMailSink } from '.'

// Two binaries and a database.
setDefaultTimeout(120_000)

let testDb: TestDatabase
let sink: MailSink
let daemon: RunningConsole
let collector: RunningConsole
let notification: AppProcess
let usermgmt: AppProcess
let usermgmtUrl: string

const um = 'User-Management-Microservice'
const notificationName = 'V1-Notification-Microservice'

beforeAll(async () => {
  testDb = await createTestDatabase()
  sink = await startMailSink({ port: 0 })
  const any = { host: '127.0.0.1', port: 0 }
  daemon = await startConsole({ udp: any, http: any, samplingRules: traceEverything, log: captureLog().log })
  collector = await startConsole({ udp: any, http: any, otlp: any, log: captureLog().log })
  const tracing = {
    OTEL_TRACES_EXPORTER: 'xray,otlp',
    AWS_XRAY_DAEMON_ADDRESS: `tcp:127.0.0.1:${new URL(daemon.url).port} udp:127.0.0.1:${daemon.udpPort}`,
    AWS_XRAY_SAMPLING_RULES: sampleEverythingRulesFile(),
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.otlpUrl ?? '',
    OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
  }
  notification = spawnApp(['serve', '--role=notification', '--port', '0'], {
    ...tracing,
    AWS_MAIL_SERVER_HOST: '127.0.0.1',
    AWS_MAIL_SERVER_PORT: String(sink.port),
    AWS_MAIL_SERVER_TLS: 'none',
    AWS_MAIL_SERVER_FROM_ADDRESS: 'stacksimplify@gmail.com',
  })
  const notificationPort = (await notification.waitForLog((l) => l['message'] === 'notification listening'))['port']
  usermgmt = spawnApp(['serve', '--role=usermgmt', '--port', '0'], {
    ...tracing,
    ...testDb.env,
    NOTIFICATION_SERVICE_HOST: '127.0.0.1',
    NOTIFICATION_SERVICE_PORT: String(notificationPort),
  })
  const port = (await usermgmt.waitForLog((l) => l['message'] === 'usermgmt listening'))['port']
  usermgmtUrl = `http://127.0.0.1:${port}`
  await usermgmt.waitForLog((l) => l['message'] === 'database schema is up to date')
})

afterAll(async () => {
  for (const app of [usermgmt, notification]) {
    app?.kill('SIGTERM')
    await app?.exited
  }
  await daemon?.stop()
  await collector?.stop()
  await sink?.stop()
  await testDb?.drop()
})

type Graph = { edges: { source: string; target: string; requests: number }[] }
const api = async <T>(console: RunningConsole, path: string) =>
  (await (await fetch(`${console.url}${path}`)).json()) as T

test('xray,otlp: the daemon and the OTLP collector get the same traces, by id, and draw the same map', async () => {
  for (let i = 0; i < 2; i++) expect((await fetch(`${usermgmtUrl}/usermgmt/notification-xray`)).status).toBe(200)
  const user = {
    username: 'bothuser',
    email: 'both@example.com',
    role: 'ROLE_USER',
    enabled: true,
    firstname: 'Both',
    lastname: 'User',
    password: 'Passw0rd!',
  }
  expect((await fetch(`${usermgmtUrl}/usermgmt/user`, { method: 'POST', body: JSON.stringify(user) })).status).toBe(200)
  expect((await fetch(`${usermgmtUrl}/usermgmt/user/nobody`)).status).toBe(404)

  const complete = async (console: RunningConsole) => {
    const graph = await api<Graph>(console, '/api/service-graph')
    const requests = (source: string, target: string) =>
      graph.edges.find((e) => e.source === source && e.target === target)?.requests
    expect(requests('client', um)).toBe(4)
    expect(requests(um, notificationName)).toBe(3)
    expect(requests(notificationName, '127.0.0.1')).toBe(1)
  }
  await waitUntil(() => complete(daemon), 30_000)
  await waitUntil(() => complete(collector), 30_000)

  const ids = async (console: RunningConsole) =>
    (await api<{ id: string }[]>(console, '/api/traces')).map((t) => t.id).sort()
  expect(await ids(collector)).toEqual(await ids(daemon))
  // The outbox's delivery continues the create-user request's trace.
  expect(await ids(daemon)).toHaveLength(4)
  expect(await api(collector, '/api/service-graph')).toEqual(await api(daemon, '/api/service-graph'))

  const stats = await api<{ received: number; otlp: { spans: { accepted: number; rejected: number } } }>(
    collector,
    '/api/stats',
  )
  expect(stats.received).toBe(0)
  expect(stats.otlp.spans.rejected).toBe(0)
  expect(stats.otlp.spans.accepted).toBeGreaterThan(10)
  for (const app of [usermgmt, notification]) {
    expect(app.lines.filter((l) => l['level'] === 'error' || l['level'] === 'warn')).toEqual([])
  }
})
