import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnApp, waitUntil } from '../testing'

test('./app dev serves both roles on SQLite and a mail sink, prints each mail, and stops cleanly on Ctrl-C', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'app-dev-'))
  await using app = spawnApp(['dev', '--data-dir', dataDir], {
    DEV_USERMGMT_PORT: '0',
    DEV_NOTIFICATION_PORT: '0',
    DEV_SMTP_PORT: '0',
    DEV_XRAY_PORT: '0',
    DEV_OTLP_PORT: '0',
  })
  const ready = await app.waitForLog((line) => line['message'] === 'dev environment ready')
  const base = `${ready['usermgmt']}/usermgmt`
  expect(await (await fetch(`${base}/health-status`)).text()).toBe('User Management Service UP and RUNNING - V1')
  expect(await (await fetch(`${base}/notification-xray`)).json()).toEqual({
    applicationname: 'Notification Microservice',
    appversion: 'V1',
    message: 'Enabled AWS XRay',
  })
  const user = {
    username: 'devuser',
    email: 'dev@example.com',
    role: 'ROLE_USER',
    enabled: true,
    firstname: 'Dev',
    lastname: 'User',
    password: 'Passw0rd!',
  }
  const created = await (async () => {
    for (;;) {
      const response = await fetch(`${base}/user`, { method: 'POST', body: JSON.stringify(user) })
      if (response.status !== 503) return response
      await app.waitForLog((line) => line['message'] === 'database schema is up to date')
    }
  })()
  expect(created.status).toBe(200)
  expect(await (await fetch(`${base}/user/devuser`)).json()).toMatchObject({
    username: 'devuser',
    email: 'dev@example.com',
  })
  const mail = await app.waitForLog((line) => line['message'] === 'mail received')
  expect(mail).toMatchObject({
    role: 'mail-sink',
    from: 'stacksimplify@gmail.com',
    to: 'dev@example.com',
    subject: 'Stack Simplify account creation.',
  })
  expect(String(mail['text']).trim()).toBe('Hello Dev, your stack simplify account is created successfully!')
  expect(app.stderr()).toContain('usermgmt      http://127.0.0.1:')
  expect(app.stderr()).toContain(`x-ray console ${ready['console']}`)
  // The console draws the course's map from what both roles sent, the database and the mail included.
  await waitUntil(async () => {
    const graph = (await (await fetch(`${ready['console']}/api/service-graph`)).json()) as {
      edges: { source: string; target: string }[]
    }
    expect(graph.edges.map((e) => `${e.source} -> ${e.target}`).sort()).toEqual([
      'User-Management-Microservice -> V1-Notification-Microservice',
      'User-Management-Microservice -> usermgmt.sqlite@localhost',
      'V1-Notification-Microservice -> 127.0.0.1',
      'client -> User-Management-Microservice',
    ])
  })
  expect(await (await fetch(String(ready['console']))).text()).toContain('<title>Local X-Ray console</title>')

  app.kill('SIGINT')
  expect(await app.exited).toBe(0)
  const sqlite = new Database(join(dataDir, 'usermgmt.sqlite'), { readonly: true })
  try {
    expect(sqlite.query('select username, email from users').all()).toEqual([
      { username: 'devuser', email: 'dev@example.com' },
    ])
    expect(sqlite.query('select status from notification_outbox').all()).toEqual([{ status: 'delivered' }])
  } finally {
    sqlite.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
})
