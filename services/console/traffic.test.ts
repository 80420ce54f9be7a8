// The console fed by both roles for real (./app dev in-process): the traces and the map they make.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDev } from '../dev'
import { captureLog, type SegmentDocument, userFixture, waitUntil } from '../testing'
import type { Entity } from '../xray'

type Stats = {
  requests: number
  ok: number
  errors: number
  throttles: number
  faults: number
  averageMs: number
  p95Ms: number
}
type Graph = {
  nodes: (Stats & { id: string; name: string; type: string })[]
  edges: (Stats & { source: string; target: string })[]
}
type TraceSummary = { id: string; services: string[]; url: string | null; status: number | null }

const dataDir = mkdtempSync(join(tmpdir(), 'console-traffic-'))
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

const api = async <T>(path: string) => (await (await fetch(`${dev.consoleUrl}${path}`)).json()) as T

/** Every entity of a document, nested subsegments included. */
function entities(document: Entity): Entity[] {
  return [document, ...(document.subsegments ?? []).flatMap(entities)]
}

/** The statistics X-Ray shows, worked out here from the documents themselves. */
function statsOf(sent: readonly Entity[]): Stats {
  const ms = sent.map((e) => Math.round(((e.end_time ?? 0) - e.start_time) * 1_000_000) / 1000).sort((a, b) => a - b)
  const status = (e: Entity) => e.http?.response?.status ?? 0
  const errors = sent.filter((e) => e.error === true || (status(e) >= 400 && status(e) < 500)).length
  const faults = sent.filter((e) => e.fault === true || status(e) >= 500).length
  return {
    requests: sent.length,
    ok: sent.length - errors - faults,
    errors,
    throttles: sent.filter((e) => status(e) === 429).length,
    faults,
    averageMs: Math.round((ms.reduce((a, b) => a + b, 0) / ms.length) * 1000) / 1000,
    p95Ms: ms[Math.ceil(ms.length * 0.95) - 1] ?? 0,
  }
}

test('joins what both roles send into the course map, with the numbers of the documents they sent', async () => {
  const base = await api<Graph>('/api/service-graph')
  const before = (source: string, target: string) =>
    base.edges.find((e) => e.source === source && e.target === target)?.requests ?? 0
  for (let i = 0; i < 3; i++) expect((await fetch(`${dev.usermgmtUrl}/usermgmt/notification-xray`)).status).toBe(200)
  const user = userFixture('mapuser')
  expect((await fetch(`${dev.usermgmtUrl}/usermgmt/user`, { method: 'POST', body: JSON.stringify(user) })).status).toBe(
    200,
  )
  expect((await fetch(`${dev.usermgmtUrl}/usermgmt/user/nobody`)).status).toBe(404)

  const um = 'User-Management-Microservice'
  const notification = 'V1-Notification-Microservice'
  const graph = await waitUntil(async () => {
    const g = await api<Graph>('/api/service-graph')
    expect(g.edges.find((e) => e.source === 'client' && e.target === um)?.requests).toBe(before('client', um) + 5)
    // 3 notification-xray calls, and the outbox's delivery of the account mail.
    expect(g.edges.find((e) => e.source === um && e.target === notification)?.requests).toBe(
      before(um, notification) + 4,
    )
    expect(g.edges.find((e) => e.source === notification && e.target === '127.0.0.1')?.requests).toBe(1)
    return g
  })

  // Everything the roles sent, as the console kept it, read back trace by trace.
  const summaries = await api<TraceSummary[]>('/api/traces')
  const documents: SegmentDocument[] = []
  for (const summary of summaries)
    documents.push(...(await api<{ documents: SegmentDocument[] }>(`/api/traces/${summary.id}`)).documents)
  const all = documents.flatMap(entities)
  const segments = documents.filter((d) => d.type !== 'subsegment')
  const byId = new Map(all.map((e) => [e.id, e]))
  const roots = segments.filter((s) => s.parent_id === undefined)
  const calls = segments.filter((s) => s.name === notification).map((s) => byId.get(s.parent_id ?? ''))
  const sql = all.filter((e) => e.sql !== undefined)
  const mail = all.filter((e) => e.annotations?.['smtp_response_code'] !== undefined)
  expect(calls.every((c) => c !== undefined)).toBe(true)
  expect(roots.every((r) => r.name === um)).toBe(true)
  expect(statsOf(roots).errors).toBe(1)
  expect(mail.map((m) => m.annotations?.['smtp_response_code'])).toEqual([250])

  const node = (name: string) => graph.nodes.find((n) => n.name === name)
  const edge = (source: string, target: string) => graph.edges.find((e) => e.source === source && e.target === target)
  expect(node('client')).toMatchObject({ type: 'client', ...statsOf(roots) })
  expect(edge('client', um)).toMatchObject(statsOf(roots))
  expect(node(um)).toMatchObject({ type: 'service', ...statsOf(segments.filter((s) => s.name === um)) })
  expect(node(notification)).toMatchObject({
    type: 'service',
    ...statsOf(segments.filter((s) => s.name === notification)),
  })
  expect(edge(um, notification)).toMatchObject(statsOf(calls.filter((c) => c !== undefined)))
  expect(node('usermgmt.sqlite@localhost')).toMatchObject({ type: 'database', ...statsOf(sql) })
  expect(edge(um, 'usermgmt.sqlite@localhost')).toMatchObject(statsOf(sql))
  expect(node('127.0.0.1')).toMatchObject({ type: 'mail', ...statsOf(mail) })
  expect(graph.nodes.map((n) => n.name).sort()).toEqual([
    '127.0.0.1',
    'User-Management-Microservice',
    'V1-Notification-Microservice',
    'client',
    'usermgmt.sqlite@localhost',
  ])

  const created = summaries.find((s) => s.url?.endsWith('/usermgmt/user') === true)
  expect(created).toMatchObject({ status: 200, services: [um, notification] })
  const withNotification = await api<TraceSummary[]>(`/api/traces?service=${notification}`)
  expect(withNotification).toHaveLength(4)

  const mailbox = await api<{ to: string; subject: string; text: string }[]>('/api/mail')
  expect(mailbox).toMatchObject([{ to: 'mapuser@example.com', subject: 'Stack Simplify account creation.' }])
  expect((await fetch(dev.consoleUrl)).headers.get('content-type')).toStartWith('text/html')
})
