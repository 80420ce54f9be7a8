// ./app dev's exporter choice: the roles sending OTLP to the console draw the map they draw sending X-Ray.
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TracesExporterName } from '../platform'
import { captureLog, userFixture, waitUntil } from '../testing'
import { startDev } from '.'

type Counts = { requests: number; ok: number; errors: number; throttles: number; faults: number }
type Graph = {
  nodes: (Counts & { id: string; type: string })[]
  edges: (Counts & { source: string; target: string })[]
}

const um = 'User-Management-Microservice'
const notification = 'V1-Notification-Microservice'

/** The course's traffic through ./app dev with the given exporters: the map the console draws of it. */
async function courseMap(exporters: readonly TracesExporterName[]) {
  const dataDir = mkdtempSync(join(tmpdir(), `dev-${exporters.join('-')}-`))
  const dev = await startDev(
    {
      logLevel: 'error',
      usermgmtPort: 0,
      notificationPort: 0,
      smtpPort: 0,
      daemonPort: 0,
      otlpPort: 0,
      exporters,
      dataDir,
    },
    captureLog('error').log,
    '0.0.0',
  )
  try {
    await waitUntil(async () => expect((await fetch(`${dev.usermgmtUrl}/usermgmt/health/readiness`)).status).toBe(200))
    for (let i = 0; i < 3; i++) expect((await fetch(`${dev.usermgmtUrl}/usermgmt/notification-xray`)).status).toBe(200)
    const user = userFixture('otlpuser')
    const created = await fetch(`${dev.usermgmtUrl}/usermgmt/user`, { method: 'POST', body: JSON.stringify(user) })
    expect(created.status).toBe(200)
    expect((await fetch(`${dev.usermgmtUrl}/usermgmt/user/nobody`)).status).toBe(404)
    const edge = (graph: Graph, source: string, target: string) =>
      graph.edges.find((e) => e.source === source && e.target === target)?.requests
    // Every request's segment, notification's for the 3 calls and the outbox's delivery, and the mail.
    const graph = await waitUntil(async () => {
      const current = (await (await fetch(`${dev.consoleUrl}/api/service-graph`)).json()) as Graph
      expect(edge(current, 'client', um)).toBe(5)
      expect(edge(current, um, notification)).toBe(4)
      expect(edge(current, notification, '127.0.0.1')).toBe(1)
      return current
    })
    // Latencies differ from run to run; the nodes, edges and counts may not.
    const counts = ({ requests, ok, errors, throttles, faults }: Counts) => ({
      requests,
      ok,
      errors,
      throttles,
      faults,
    })
    return {
      nodes: graph.nodes
        .map((n) => ({ id: n.id, type: n.type, ...counts(n) }))
        .sort((a, b) => a.id.localeCompare(b.id)),
      edges: graph.edges
        .map((e) => ({ source: e.source, target: e.target, ...counts(e) }))
        .sort((a, b) => `${a.source}>${a.target}`.localeCompare(`${b.source}>${b.target}`)),
    }
  } finally {
    await dev.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

test('both roles exporting OTLP draw the same map, nodes, edges and counts, as exporting X-Ray', async () => {
  const xray = await courseMap(['xray'])
  expect(xray.nodes.map((n) => n.id).sort()).toEqual(
    ['127.0.0.1', um, notification, 'client', 'usermgmt.sqlite@localhost'].sort(),
  )
  expect(await courseMap(['otlp'])).toEqual(xray)
})
